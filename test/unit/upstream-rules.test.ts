import { expect } from 'chai';
import fc from 'fast-check';
import {
  addressClass,
  checkAddress,
  checkUpstreamUrl,
  cidrContains,
  describeRefusal,
  embeddedIpv4,
  endpointOf,
  formatIp,
  parseCidr,
  parseIp,
  readStoredPolicy,
  RefusedEndpoints,
  UpstreamAllowlist,
  urlShapeRefusal,
  type RefusedEndpoint,
  type UpstreamRuleSet,
} from '../../policy/index.js';

const ip = (text: string) => {
  const parsed = parseIp(text);
  if (!parsed) throw new Error(`not an address: ${text}`);
  return parsed;
};
const cidr = (text: string) => {
  const parsed = parseCidr(text);
  if (!parsed) throw new Error(`not a network: ${text}`);
  return parsed;
};
const endpoints = (...list: Array<[RefusedEndpoint['role'], string]>) => list.map(([role, text]) => endpointOf(role, text)!);
/** etcd on loopback:2379, a registry on loopback:8080, a gateway on 10.0.0.7:8443; this host also has 192.168.1.20. */
const LOCAL = ['127.0.0.1', '::1', '192.168.1.20', 'fe80::1'];
const rules = (allow?: string[]): UpstreamRuleSet => ({
  refused: new RefusedEndpoints(endpoints(['etcd', 'http://127.0.0.1:2379'], ['registry', '127.0.0.1:8080'], ['gateway', 'http://10.0.0.7:8443']), LOCAL),
  ...(allow ? { allowlist: UpstreamAllowlist.parse(allow).allowlist! } : {}),
});
const rule = (url: string, set = rules(), use: 'service' | 'dispatch' = 'service') => checkUpstreamUrl(url, set, use).refusal?.rule;

describe('upstream rules: addresses', () => {
  it('parses IPv4, IPv6 with embedded IPv4, zones and brackets, and nothing else', () => {
    expect(formatIp(ip('10.1.2.3'))).to.equal('10.1.2.3');
    expect(formatIp(ip('[::ffff:a9fe:a9fe]'))).to.equal('0:0:0:0:0:ffff:a9fe:a9fe');
    expect(formatIp(ip('::ffff:169.254.169.254'))).to.equal('0:0:0:0:0:ffff:a9fe:a9fe');
    expect(formatIp(ip('fe80::1%eth0'))).to.equal('fe80:0:0:0:0:0:0:1');
    expect(formatIp(ip('2001:db8::'))).to.equal('2001:db8:0:0:0:0:0:0');
    for (const text of ['localhost', '10.1.2', '0x7f.1', '2852039166', '1.2.3.4.5', ':::1', 'example.com', '']) expect(parseIp(text), text).to.equal(undefined);
  });

  it('classifies link-local, unspecified, non-unicast and metadata addresses, also when an IPv6 address embeds them', () => {
    const cases: Array<[string, ReturnType<typeof addressClass>]> = [
      ['169.254.169.254', 'link-local'],
      ['169.254.0.1', 'link-local'],
      ['::ffff:169.254.169.254', 'link-local'],
      ['::169.254.169.254', 'link-local'],
      ['64:ff9b::a9fe:a9fe', 'link-local'],
      ['2002:a9fe:a9fe::1', 'link-local'],
      ['fe80::1', 'link-local'],
      ['febf::1', 'link-local'],
      ['0.0.0.0', 'unspecified'],
      ['0.1.2.3', 'unspecified'],
      ['::', 'unspecified'],
      ['::ffff:0.0.0.0', 'unspecified'],
      ['224.0.0.1', 'non-unicast'],
      ['255.255.255.255', 'non-unicast'],
      ['240.0.0.1', 'non-unicast'],
      ['ff02::1', 'non-unicast'],
      ['fd00:ec2::254', 'metadata'],
      ['100.100.100.200', 'metadata'],
      ['168.63.129.16', 'metadata'],
      ['127.0.0.1', undefined],
      ['::1', undefined],
      ['10.0.0.1', undefined],
      ['fec0::1', undefined],
      ['2001:db8::1', undefined],
      ['169.253.255.255', undefined],
      ['169.255.0.0', undefined],
    ];
    for (const [text, cls] of cases) expect(addressClass(ip(text)), text).to.equal(cls);
    expect(embeddedIpv4(ip('::1')), '::1 embeds nothing').to.equal(undefined);
    expect(embeddedIpv4(ip('::')), ':: embeds nothing').to.equal(undefined);
  });

  it('matches CIDR ranges, IPv4-mapped addresses as their IPv4 address', () => {
    expect(cidrContains(cidr('10.0.0.0/8'), ip('10.255.1.2'))).to.equal(true);
    expect(cidrContains(cidr('10.0.0.0/8'), ip('11.0.0.0'))).to.equal(false);
    expect(cidrContains(cidr('10.0.0.0/8'), ip('::ffff:10.1.2.3'))).to.equal(true);
    expect(cidrContains(cidr('::ffff:10.0.0.0/104'), ip('10.1.2.3'))).to.equal(true);
    expect(cidrContains(cidr('::ffff:10.0.0.0/104'), ip('11.1.2.3'))).to.equal(false);
    expect(cidrContains(cidr('fd00::/8'), ip('fd12:3456::1'))).to.equal(true);
    expect(cidrContains(cidr('fd00::/8'), ip('fe00::1'))).to.equal(false);
    expect(cidrContains(cidr('0.0.0.0/0'), ip('203.0.113.9'))).to.equal(true);
    expect(cidrContains(cidr('0.0.0.0/0'), ip('2001:db8::1')), 'families differ').to.equal(false);
    expect(cidrContains(cidr('192.168.1.20'), ip('192.168.1.20'))).to.equal(true);
    expect(cidrContains(cidr('192.168.1.20'), ip('192.168.1.21'))).to.equal(false);
    expect(cidrContains(cidr('10.1.2.3/31'), ip('10.1.2.2'))).to.equal(true);
    for (const bad of ['10.0.0.0/33', '1.2.3/8', '10.0.0.0/8x', '[::1]/128', '::1/129', 'fe80::1%eth0/64', '10.0.0.0/-1']) expect(parseCidr(bad), bad).to.equal(undefined);
  });

  it('agrees with a bit-by-bit comparison on random IPv4 networks', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }), (a, b, bits) => {
        const dotted = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.');
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        expect(cidrContains(cidr(`${dotted(a)}/${bits}`), ip(dotted(b)))).to.equal(((a & mask) >>> 0) === ((b & mask) >>> 0));
      }),
    );
  });
});

describe('upstream rules: URLs', () => {
  it('sees every spelling of an address as the address it reaches (WHATWG parsing, then the check)', () => {
    const set = rules();
    expect(rule('http://2852039166/', set)).to.equal('link-local');
    expect(rule('http://0xa9fea9fe/', set)).to.equal('link-local');
    expect(rule('http://0xa9.0xfe.0xa9.0xfe/', set)).to.equal('link-local');
    expect(rule('http://0251.0376.0251.0376/', set)).to.equal('link-local');
    expect(rule('http://169.254.43518/', set)).to.equal('link-local');
    expect(rule('http://169.254.169.254./', set)).to.equal('link-local');
    expect(rule('http://[::ffff:169.254.169.254]/', set)).to.equal('link-local');
    expect(rule('http://[::ffff:a9fe:a9fe]/', set)).to.equal('link-local');
    expect(rule('http://[fe80::1]/', set)).to.equal('link-local');
    expect(rule('http://0x7f.1:2379/', set)).to.equal('etcd-endpoint');
    expect(rule('http://127.1:2379/', set)).to.equal('etcd-endpoint');
    expect(rule('http://0177.0.0.1:2379/', set)).to.equal('etcd-endpoint');
    expect(rule('http://2130706433:2379/', set)).to.equal('etcd-endpoint');
    expect(rule('http://[::ffff:127.0.0.1]:2379/', set)).to.equal('etcd-endpoint');
    expect(rule('http://0/', set)).to.equal('unspecified');
    expect(rule('http://[::]:80/', set)).to.equal('unspecified');
    expect(rule('http://0x7f.1:8081/', set), 'another port of loopback').to.equal(undefined);
  });

  it('refuses what URL parsers drop or reinterpret, credentials, queries and fragments', () => {
    const cases: Array<[string, string | undefined]> = [
      ['http://127.0.0.1:23\n79/', 'characters'],
      ['http://127.0.0.1:23\t79/', 'characters'],
      ['http://10.0.0.1/a b', 'characters'],
      ['http://evil.example\\@10.0.0.1/', 'characters'],
      ['http://10.0.0.1/\u0000', 'characters'],
      ['http://user:pass@10.0.0.1/', 'userinfo'],
      ['http://user@10.0.0.1/', 'userinfo'],
      ['http://@10.0.0.1/', 'userinfo'],
      ['http://:@10.0.0.1/', 'userinfo'],
      ['http://10.0.0.1/?', 'query'],
      ['http://10.0.0.1/x?a=1', 'query'],
      ['http://10.0.0.1/#', 'fragment'],
      ['http://10.0.0.1/x#y', 'fragment'],
      ['http://10.0.0.1:8080/api/v1', undefined],
      ['https://api.internal.example.com', undefined],
      ['http://10.0.0.1/a@b', undefined],
      ['ftp://10.0.0.1/', undefined],
      ['not a url', 'characters'],
      ['nonsense', undefined],
    ];
    for (const [url, expected] of cases) expect(urlShapeRefusal(url)?.rule, JSON.stringify(url)).to.equal(expected);
    // Messages never repeat credentials or a query: rendered from variables, they may be secrets.
    const message = describeRefusal('http://svc:s3cret@10.0.0.1/x?token=abc#f', { rule: 'userinfo', detail: 'd' });
    expect(message).to.include('"http://***@10.0.0.1/x?…"');
    expect(message).not.to.match(/s3cret|abc/);
  });

  it("refuses etcd's, the registry's and gateways' addresses on their ports, at every local alias of a local one", () => {
    const set = rules();
    expect(rule('http://127.0.0.1:2379', set)).to.equal('etcd-endpoint');
    expect(rule('http://127.0.0.2:2379', set)).to.equal('etcd-endpoint');
    expect(rule('http://[::1]:2379', set)).to.equal('etcd-endpoint');
    expect(rule('http://192.168.1.20:2379', set), "this host's LAN address").to.equal('etcd-endpoint');
    expect(rule('http://localhost:2379', set), 'localhost, without DNS').to.equal('etcd-endpoint');
    expect(rule('http://LOCALHOST.:2379', set)).to.equal('etcd-endpoint');
    expect(rule('http://api.localhost:2379', set)).to.equal('etcd-endpoint');
    expect(rule('http://127.0.0.1:8080', set)).to.equal('registry-address');
    expect(rule('http://10.0.0.7:8443', set)).to.equal('gateway-address');
    expect(rule('http://10.0.0.7:8444', set), 'another port of a remote gateway').to.equal(undefined);
    expect(rule('http://10.0.0.8:8443', set), 'another host, same port').to.equal(undefined);
    expect(rule('http://192.168.1.21:2379', set), 'another host of the LAN').to.equal(undefined);
    expect(rule('http://127.0.0.1:9101', set), "the local stack's backends").to.equal(undefined);
    // Dispatching is forwarding to gateways: their addresses pass, nothing else does.
    expect(rule('http://10.0.0.7:8443', set, 'dispatch')).to.equal(undefined);
    expect(rule('http://127.0.0.1:2379', set, 'dispatch')).to.equal('etcd-endpoint');
    expect(rule('http://169.254.169.254', set, 'dispatch')).to.equal('link-local');
  });

  it('matches named endpoints by name and by the addresses they resolved to; remote ones only exactly', () => {
    const refused = new RefusedEndpoints([{ role: 'etcd', host: 'etcd.internal', port: 2379, addresses: ['10.0.0.5'] }], LOCAL);
    const set = { refused };
    expect(rule('http://etcd.internal:2379', set)).to.equal('etcd-endpoint');
    expect(rule('http://ETCD.internal.:2379', set)).to.equal('etcd-endpoint');
    expect(rule('http://10.0.0.5:2379', set)).to.equal('etcd-endpoint');
    expect(rule('http://[::ffff:10.0.0.5]:2379', set)).to.equal('etcd-endpoint');
    expect(rule('http://127.0.0.1:2379', set), 'etcd is remote: loopback:2379 is something else').to.equal(undefined);
    expect(rule('http://etcd.internal:2380', set)).to.equal(undefined);
    expect(checkAddress({ name: 'alias.example', port: 2379 }, ip('10.0.0.5'), set)?.rule, 'another name resolving to it').to.equal('etcd-endpoint');
    expect(checkAddress({ name: 'metadata.google.internal', port: 80 }, ip('169.254.169.254'), set)?.rule).to.equal('link-local');
  });
});

describe('upstream rules: the policy', () => {
  it('compiles host patterns and networks, naming each bad entry', () => {
    const { allowlist, problems } = UpstreamAllowlist.parse(['*.internal.example.com', 'api.example.com', '10.0.0.0/8', 'fd00::/8', '192.168.1.5']);
    expect(problems).to.deep.equal([]);
    expect(allowlist!.hasNetworks).to.equal(true);
    const bad = UpstreamAllowlist.parse(['*.*.example.com', 'a*.example.com', 'exa mple.com', '', 'http://x', '-bad.example', '10.0.0.0/33', '1.2.3', 42, 'x'.repeat(254)]);
    expect(bad.allowlist).to.equal(undefined);
    expect(bad.problems.map((p) => p.index)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(UpstreamAllowlist.parse(Array.from({ length: 257 }, (_, i) => `h${i}.example`)).problems).to.have.length(1);
  });

  it('allows names by pattern (a wildcard covers names below, not itself) and addresses by network', () => {
    const { allowlist } = UpstreamAllowlist.parse(['*.internal.example.com', 'api.example.com', '10.0.0.0/8']);
    const a = allowlist!;
    expect(a.allowsName('x.internal.example.com')).to.equal(true);
    expect(a.allowsName('a.b.internal.example.com')).to.equal(true);
    expect(a.allowsName('X.Internal.Example.COM.')).to.equal(true);
    expect(a.allowsName('internal.example.com')).to.equal(false);
    expect(a.allowsName('xinternal.example.com')).to.equal(false);
    expect(a.allowsName('internal.example.com.evil.example')).to.equal(false);
    expect(a.allowsName('api.example.com')).to.equal(true);
    expect(a.allowsName('v2.api.example.com')).to.equal(false);
    expect(a.allowsAddress(ip('10.9.9.9'))).to.equal(true);
    expect(a.allowsAddress(ip('::ffff:10.9.9.9'))).to.equal(true);
    expect(a.allowsAddress(ip('11.0.0.1'))).to.equal(false);
  });

  it('refuses what the policy does not allow, and never lifts what is always refused', () => {
    const strict = rules(['10.0.0.0/8', '*.internal.example.com']);
    expect(rule('http://10.1.2.3:8080', strict)).to.equal(undefined);
    expect(rule('http://192.168.1.9:8080', strict)).to.equal('policy');
    expect(rule('http://pay.internal.example.com', strict)).to.equal(undefined);
    // A name outside the patterns may still pass through the networks, once resolved.
    expect(rule('http://other.example', strict)).to.equal(undefined);
    expect(checkAddress({ name: 'other.example', port: 80 }, ip('10.3.3.3'), strict)).to.equal(undefined);
    expect(checkAddress({ name: 'other.example', port: 80 }, ip('203.0.113.1'), strict)?.rule).to.equal('policy');
    // Only patterns: a name outside them is refused before any lookup.
    expect(rule('http://other.example', rules(['*.internal.example.com']))).to.equal('policy');
    expect(rule('http://10.1.2.3', rules([])), 'an empty policy allows nothing').to.equal('policy');
    const open = rules(['0.0.0.0/0', '::/0', '*.example.com', 'localhost']);
    expect(rule('http://169.254.169.254', open)).to.equal('link-local');
    expect(rule('http://localhost:2379', open)).to.equal('etcd-endpoint');
    expect(rule('http://127.0.0.1:8080', open)).to.equal('registry-address');
    expect(rule('http://user:pw@api.example.com', open)).to.equal('userinfo');
    expect(checkAddress({ name: 'x.example.com', port: 443 }, ip('fe80::1'), open)?.rule).to.equal('link-local');
  });

  it('fails closed on a stored policy that cannot be read', () => {
    for (const text of ['not json', '{}', '{"allow": "10.0.0.0/8"}', '{"allow": ["10.0.0.0/33"]}']) {
      const read = readStoredPolicy(text);
      expect(read.problem, text).to.be.a('string');
      expect(read.allowlist.entries, text).to.deep.equal([]);
    }
    expect(readStoredPolicy('{"environment":"prod","allow":["10.0.0.0/8"]}').allowlist.entries).to.deep.equal(['10.0.0.0/8']);
  });
});
