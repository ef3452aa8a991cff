import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import type { ApiError } from '../../openapi/index.js';
import { adminCall } from '../support/admin-api.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { useEtcd } from '../support/store.js';
import { waitFor } from '../support/wait.js';

describe('registry with a corrupt tokens file (real etcd)', function () {
  const ctx = useEtcd();
  let reg: TestRegistry;
  const failures: Error[] = [];
  before(async () => {
    reg = await startRegistry({ endpoints: ctx.etcd.endpoints });
    reg.registry.on('failure', (err: Error) => failures.push(err));
  });
  after(async () => {
    await reg?.close();
  });

  it('tells callers what is wrong with the token configuration but not where (no path, no excerpt); the details go to the log', async () => {
    const secretish = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855-operator-eu';
    // Hand-edited with an unquoted value: the JSON parser's message quotes the text around it.
    writeFileSync(reg.tokensFile, `{"tokens": [{"name": "${secretish}", "sha256": "${secretish.slice(0, 64)}", "role": admin}]}`);
    for (const token of ['not-a-token', reg.adminToken]) {
      const res = await adminCall<ApiError>(reg.url, 'GET', '/v1/environments', { token });
      expect([res.status, res.body.code]).to.deep.equal([500, 'INVALID_TOKENS']);
      expect(res.body.message).to.equal("the registry's token configuration is invalid: the file is not JSON; an operator must fix it (the registry's log says where)");
      expect(JSON.stringify(res.body)).not.to.include('e3b0c442');
      expect(res.body.message).not.to.include('admin}');
      expect(JSON.stringify(res.body)).not.to.include(reg.tokensFile);
    }
    await waitFor(() => failures.length >= 2, { what: 'the failure to be reported for the log' });
    expect(failures[0]!.message).to.include(reg.tokensFile).and.include('not JSON');
  });
});
