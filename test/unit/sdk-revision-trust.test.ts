import { expect } from 'chai';
import { Discovery } from '../../client-sdk/discovery.js';
import { InvalidTopologyError } from '../../client-sdk/errors.js';
import { resolveOptions } from '../../client-sdk/options.js';
import { nodePlatform } from '../../client-sdk/platform-node.js';
import type { TopologyDocument } from '../../openapi/index.js';
import { topologyDoc } from '../support/topology-doc.js';

const LIE = Number.MAX_SAFE_INTEGER;

describe('SDK discovery: a single lying or reset gateway cannot pin the client', () => {
  const doc = (revision: number) =>
    topologyDoc({ revision, environment: 'prod', regions: [{ name: 'eu-west', gateways: [{ url: 'http://eu' }] }], services: [{ name: 'catalog' }] });

  function discovery() {
    const d = new Discovery(nodePlatform(), resolveOptions({ bootstrap: ['http://127.0.0.1:9'] }), () => []);
    const accepted: number[] = [];
    d.on('document', (x: TopologyDocument) => accepted.push(x.revision));
    const offer = (revision: number, source: string): string => {
      try {
        return d.offer(doc(revision), `${source}/.well-known/topology`);
      } catch (err) {
        expect(err).to.be.instanceOf(InvalidTopologyError);
        return (err as InvalidTopologyError).reason;
      }
    };
    return { d, accepted, offer };
  }

  it('drops a lie that two other gateways contradict, then takes the liar only when another gateway confirms it', () => {
    const { d, accepted, offer } = discovery();
    expect(offer(10, 'http://a')).to.equal('accepted');
    expect(offer(LIE, 'http://liar')).to.equal('accepted'); // newer documents are taken at once
    expect(offer(10, 'http://a')).to.equal('rollback'); // one gateway is not enough to overrule
    expect(offer(10, 'http://b')).to.equal('accepted'); // two are: the lie is dropped
    expect(d.document?.revision).to.equal(10);
    expect(offer(LIE, 'http://liar')).to.equal('unconfirmed');
    expect(offer(11, 'http://a')).to.equal('accepted'); // real changes are followed at once
    expect(offer(12, 'http://liar')).to.equal('unconfirmed'); // the liar alone moves nothing
    expect(offer(12, 'http://b')).to.equal('accepted');
    expect(offer(12, 'http://liar')).to.equal('same'); // confirmed by b: no longer suspect
    expect(offer(13, 'http://liar')).to.equal('accepted');
    expect(accepted).to.deep.equal([10, LIE, 10, 11, 12, 13]);
  });

  it('still rejects a lagging gateway, and a lie that only one gateway contradicts', () => {
    const { offer } = discovery();
    offer(20, 'http://a');
    offer(20, 'http://b');
    expect(offer(15, 'http://lagging')).to.equal('rollback');
    expect(offer(15, 'http://lagging-too')).to.equal('rollback'); // 20 is still served by a and b
    expect(offer(21, 'http://a')).to.equal('accepted');
  });

  it('follows an environment whose gateways were reset to lower revisions, once two of them serve them', () => {
    const { d, offer } = discovery();
    offer(500, 'http://a');
    offer(500, 'http://b');
    expect(offer(3, 'http://a')).to.equal('rollback');
    expect(offer(3, 'http://b')).to.equal('accepted'); // a and b both moved: 500 has no voucher left
    expect(offer(4, 'http://a')).to.equal('accepted');
    expect(d.document?.revision).to.equal(4);
  });
});
