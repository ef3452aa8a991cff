import { expect } from 'chai';
import { InvalidNameError } from '../../topology/index.js';
import { KeyLayout, topologyRange } from '../../store/index.js';

describe('KeyLayout', () => {
  const layout = new KeyLayout();

  it('builds the documented human-readable keys', () => {
    expect(layout.region('prod', 'eu-west')).to.equal('/waymark/v1/prod/regions/eu-west');
    expect(layout.service('prod', 'hr')).to.equal('/waymark/v1/prod/services/hr');
    expect(layout.gateway('prod', 'eu-west', 'gw-1')).to.equal('/waymark/v1/prod/gateways/eu-west/gw-1');
    expect(layout.report('prod', 'eu-west', 'gw-1')).to.equal('/waymark/v1/_status/prod/eu-west/gw-1');
    expect(new KeyLayout('/acme/waymark').service('dev', 'a')).to.equal('/acme/waymark/dev/services/a');
  });

  it('refuses names that could escape their prefix', () => {
    for (const bad of ['', '../x', 'a/b', 'A', '-a', 'a-', 'a'.repeat(64), 'a\u0430', 'a b', '_status']) {
      expect(() => layout.service('prod', bad), bad).to.throw(InvalidNameError);
    }
    expect(() => layout.environment('../prod')).to.throw(InvalidNameError);
    expect(() => layout.service('prod', 'a'.repeat(63))).not.to.throw();
  });

  it('parses keys back, and ignores keys it does not know', () => {
    expect(layout.parse('prod', '/waymark/v1/prod/gateways/eu-west/gw-1')).to.deep.equal({ kind: 'gateway', region: 'eu-west', name: 'gw-1' });
    expect(layout.parse('prod', '/waymark/v1/prod/services/hr')).to.deep.equal({ kind: 'service', name: 'hr' });
    expect(layout.parse('prod', '/waymark/v1/prod/pending')).to.deep.equal({ kind: 'pending' });
    expect(layout.parse('prod', '/waymark/v1/prod/services/hr/x')).to.equal(undefined);
    expect(layout.parse('prod', '/waymark/v1/prod-2/services/hr')).to.equal(undefined);
    expect(layout.environmentOf('/waymark/v1/_status/prod/a/b')).to.equal(undefined);
    expect(layout.environmentOf('/waymark/v1/prod/regions/a')).to.equal('prod');
  });

  it("keeps what gateways read in one range, with the variables and sources outside it (what etcd roles grant)", () => {
    const { start, end } = topologyRange(layout, 'prod');
    const inside = (k: string) => k >= start && k < end;
    for (const k of [layout.region('prod', 'a'), layout.service('prod', 'a'), layout.gateway('prod', 'a', 'g'), layout.commit('prod'), layout.pending('prod')]) {
      expect(inside(k), k).to.equal(true);
    }
    for (const k of [layout.environmentSpec('prod'), layout.source('prod', 0), layout.auditRecord('prod', 1), layout.report('prod', 'a', 'g'), layout.upstreamPolicy('prod')]) {
      expect(inside(k), k).to.equal(false);
    }
    // Where 0.1 kept the variables: inside, hence the move.
    expect(inside(layout.legacyEnvironmentSpec('prod'))).to.equal(true);
    expect(layout.environmentSpec('prod')).to.equal('/waymark/v1/prod/variables');
    expect(layout.parse('prod', layout.legacyEnvironmentSpec('prod'))).to.deep.equal({ kind: 'environment' });
    expect(layout.auditRecord('prod', 42)).to.equal('/waymark/v1/_audit/prod/records/000000000042');
    expect(() => layout.auditRecord('prod', 0)).to.throw(TypeError);
    expect(() => layout.auditSource('prod', '../x')).to.throw(TypeError);
  });
});
