import { expect } from 'chai';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { GatewayHttpError } from '../../gateway/errors.js';
import { checkFraming, connectionTokens } from '../../gateway/framing.js';

/** A parsed request as node would hand it over, with these raw header lines. */
function request(rawHeaders: string[], httpVersion = '1.1'): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.rawHeaders = rawHeaders;
  req.httpVersion = httpVersion;
  return req;
}

describe('gateway request framing', () => {
  it('accepts a single Content-Length, a single chunked, or no framing at all', () => {
    for (const raw of [[], ['Content-Length', '3'], ['content-length', ' 0003 '], ['Transfer-Encoding', 'chunked'], ['TRANSFER-ENCODING', ' Chunked ']]) {
      expect(() => checkFraming(request(['Host', 'h', ...raw])), JSON.stringify(raw)).to.not.throw();
    }
  });

  it('refuses every framing another parser could read differently, with 400 BAD_FRAMING and a close', () => {
    const refused: Array<[string[], string?]> = [
      // Accepted by node's parser, so only this check stands between them and the upstream.
      [['Transfer-Encoding', 'identity, chunked']],
      [['Transfer-Encoding', 'gzip, chunked']],
      [['Transfer-Encoding', ',chunked']],
      [['Transfer-Encoding', '']],
      [['Transfer-Encoding', '', 'Content-Length', '3']],
      [['Transfer-Encoding', 'identity', 'Transfer-Encoding', 'chunked']],
      [['Transfer-Encoding', 'chunked'], '1.0'],
      // Refused by node's parser already; refused here too should it ever be made lenient.
      [['Content-Length', '3', 'Transfer-Encoding', 'chunked']],
      [['Transfer-Encoding', 'chunked', 'Transfer-Encoding', 'chunked']],
      [['Content-Length', '3', 'Content-Length', '3']],
      ...['3, 3', '+3', '-1', '', '0x3', '1e3', '9007199254740993'].map((v): [string[]] => [['Content-Length', v]]),
    ];
    for (const [raw, version] of refused) {
      expect(() => checkFraming(request(['Host', 'h', ...raw], version)), JSON.stringify(raw))
        .to.throw(GatewayHttpError)
        .that.deep.includes({ status: 400, code: 'BAD_FRAMING', headers: ['Connection', 'close'] });
    }
  });

  it('never lets a Connection header remove a framing header or Host', () => {
    expect([...(connectionTokens('close, Content-Length, X-Secret,, transfer-encoding, HOST') ?? [])]).to.deep.equal(['close', 'x-secret']);
    expect(connectionTokens(undefined)).to.equal(undefined);
  });

  it('reads the common Connection values like any other (their answers are precomputed)', () => {
    for (const value of ['keep-alive', 'Keep-Alive', 'close', 'Close', 'keep-alive, X-Secret', 'Upgrade']) {
      const general = new Set(value.split(',').map((t) => t.trim().toLowerCase()));
      const listed = connectionTokens(value);
      for (const name of ['close', 'x-secret', 'upgrade', 'x-other']) {
        // keep-alive is dropped as hop-by-hop whether listed or not.
        expect(listed?.has(name) ?? false, `${value}: ${name}`).to.equal(general.has(name));
      }
    }
  });
});
