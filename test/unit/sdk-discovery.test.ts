import { expect } from 'chai';
import { Discovery } from '../../client-sdk/discovery.js';
import { InvalidTopologyError } from '../../client-sdk/errors.js';
import { resolveOptions } from '../../client-sdk/options.js';
import { nodePlatform } from '../../client-sdk/platform-node.js';
import type { TopologyDocument } from '../../openapi/index.js';
import { topologyDoc } from '../support/topology-doc.js';

describe('SDK discovery: which documents are taken', () => {
  const doc = (revision: number, environment = 'prod') =>
    topologyDoc({ revision, environment, regions: [{ name: 'eu-west', gateways: [{ url: 'http://eu' }] }], services: [{ name: 'catalog' }] });

  function discovery(environment?: string) {
    const d = new Discovery(nodePlatform(), resolveOptions({ bootstrap: ['http://127.0.0.1:9'], ...(environment ? { environment } : {}) }), () => []);
    const accepted: TopologyDocument[] = [];
    d.on('document', (doc) => accepted.push(doc));
    return { d, accepted };
  }

  function rejected(fn: () => unknown): InvalidTopologyError {
    try {
      fn();
    } catch (err) {
      expect(err).to.be.instanceOf(InvalidTopologyError);
      return err as InvalidTopologyError;
    }
    throw new Error('expected a rejection');
  }

  it('takes newer revisions only: an older one (a lagging gateway) is a rollback and rejected', () => {
    const { d, accepted } = discovery();
    expect(d.offer(doc(5), 'a')).to.equal('accepted');
    expect(d.offer(doc(5), 'b')).to.equal('same');
    expect(rejected(() => d.offer(doc(4), 'lagging')).reason).to.equal('rollback');
    expect(d.offer(doc(9), 'c')).to.equal('accepted');
    expect(accepted.map((x) => x.revision)).to.deep.equal([5, 9]);
    expect(d.document?.revision).to.equal(9);
  });

  it('rejects another environment than the configured one', () => {
    const { d, accepted } = discovery('prod');
    const err = rejected(() => d.offer(doc(1, 'staging'), 'http://gw/.well-known/topology'));
    expect(err.reason).to.equal('environment');
    expect(err.message).to.include('"staging"').and.include('"prod"').and.include('http://gw/.well-known/topology');
    expect(accepted).to.have.length(0);
  });

  it('without a configured environment, sticks to the environment of the first document', () => {
    const { d } = discovery();
    d.offer(doc(1, 'staging'), 'a');
    expect(rejected(() => d.offer(doc(2, 'prod'), 'b')).reason).to.equal('environment');
  });
});
