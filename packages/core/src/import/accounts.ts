/**
 * Owner names in package payloads are mapped to ids through the *base's* passwd and group files, as the installed
 * system will see them; the build machine's accounts do not matter.
 */
import type { TreeReader } from '../tree.js';

/** Where OSTree-based systems keep account databases inside the tree (nss-altfiles uses /usr/lib). */
const ACCOUNT_DIRS = ['/usr/etc', '/usr/lib', '/etc'];

export interface Accounts {
  users: Map<string, number>;
  groups: Map<string, number>;
}

export async function readAccounts(tree: TreeReader): Promise<Accounts> {
  const users = new Map<string, number>();
  const groups = new Map<string, number>();
  // Read side by side (in a repo, each is a process); merged in ACCOUNT_DIRS order, where the first entry wins.
  const read = await Promise.all(ACCOUNT_DIRS.map((dir) => Promise.all([readIfFile(tree, `${dir}/passwd`), readIfFile(tree, `${dir}/group`)])));
  for (const [passwd, group] of read) {
    addIds(passwd, users);
    addIds(group, groups);
  }
  // root is root on every system even when the tree carries no passwd at all (minimal server-side composes).
  if (!users.has('root')) users.set('root', 0);
  if (!groups.has('root')) groups.set('root', 0);
  return { users, groups };
}

async function readIfFile(tree: TreeReader, path: string): Promise<string | null> {
  const st = await tree.lstat(path);
  return st?.type === 'file' ? (await tree.readFile(path)).toString('utf8') : null;
}

function addIds(text: string | null, into: Map<string, number>): void {
  for (const line of (text ?? '').split('\n')) {
    const fields = line.split(':');
    if (fields.length < 3 || line.startsWith('#')) continue;
    const id = Number(fields[2]);
    if (Number.isInteger(id) && !into.has(fields[0]!)) into.set(fields[0]!, id);
  }
}
