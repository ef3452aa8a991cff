/**
 * How Waymark writes files: owner-only modes and atomic, exclusive, no-follow replacement. Node
 * built-ins only, so every package may use it (the SDK's cache file included).
 */
export {
  makePrivateDir,
  makePrivateDirSync,
  openPrivateAppendSync,
  PRIVATE_DIR_MODE,
  PRIVATE_FILE_MODE,
  writePrivateFile,
  writePrivateFileSync,
} from './private-file.js';
