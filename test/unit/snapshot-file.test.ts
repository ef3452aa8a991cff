import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SnapshotFileError } from '../../gateway/errors.js';
import { SnapshotFile } from '../../gateway/snapshot-file.js';
import { VALID_GATEWAY, VALID_REGION, VALID_SERVICE } from '../support/record-corpus.js';

describe('gateway snapshot file', () => {
  it('reads the file as etcd is read: records the core validators reject are skipped and reported', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'waymark-snapshot-'));
    try {
      const path = join(dir, 'prod.json');
      writeFileSync(
        path,
        JSON.stringify({
          environment: 'prod',
          revision: 9,
          regions: [VALID_REGION, { name: 'us-east', jurisdiction: 'US', location: '<script>\r\n' }],
          services: [VALID_SERVICE, { ...VALID_SERVICE, name: 'zz', deployments: [null] }, null],
          gateways: [VALID_GATEWAY, { ...VALID_GATEWAY, id: 'evil', status: 'evil' }],
          lastCommit: { id: 1 },
        }),
      );
      const skipped: SnapshotFileError[] = [];
      const snapshot = await new SnapshotFile(path, (err) => skipped.push(err)).read('prod');
      expect([...snapshot!.regions.keys()]).to.deep.equal(['eu-west']);
      expect([...snapshot!.services.keys()]).to.deep.equal(['catalog']);
      expect([...snapshot!.gateways.keys()]).to.deep.equal(['eu-west/gw-1']);
      expect(snapshot!.commit).to.equal(undefined);
      expect(skipped.map((e) => e.message).join('\n')).to.include('skips service "zz": deployments[0]: must be an object').and.include('skips region "us-east"');
      expect(skipped).to.have.length(4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
