/**
 * Users and groups that scripts create must survive OSTree's 3-way /etc merge, which keeps a locally modified
 * /etc/passwd whole and so would drop them. They are carried as sysusers.d lines with the very ids the scripts chose:
 * systemd-sysusers adds whatever is missing at boot, before tmpfiles creates the /var directories they own.
 */

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  gecos: string;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, uid, gid, gecos: f[4]!, home: f[5]!, shell: f[6]! });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, gid, members: f[3]!.split(',').filter(Boolean) });
  }
  return out;
}

export interface AccountChanges {
  users: PasswdEntry[];
  groups: GroupEntry[];
  /** [user, group] pairs added to a group's member list. */
  memberships: Array<[string, string]>;
}

/** What `after` has that `before` did not, by name. */
export function accountChanges(before: { passwd: string; group: string }, after: { passwd: string; group: string }): AccountChanges {
  const oldUsers = new Set(parsePasswd(before.passwd).map((u) => u.name));
  const oldGroups = new Map(parseGroup(before.group).map((g) => [g.name, new Set(g.members)]));
  const users = parsePasswd(after.passwd).filter((u) => !oldUsers.has(u.name));
  const groups: GroupEntry[] = [];
  const memberships: Array<[string, string]> = [];
  for (const g of parseGroup(after.group)) {
    const had = oldGroups.get(g.name);
    if (!had) groups.push(g);
    for (const m of g.members) if (!had?.has(m)) memberships.push([m, g.name]);
  }
  return { users, groups, memberships };
}

/** The sysusers.d text for `changes` (groups first, so users can name them), or '' when nothing changed. */
export function sysusersConf(changes: AccountChanges): string {
  const lines: string[] = [];
  const groupName = new Map(changes.groups.map((g) => [g.gid, g.name]));
  for (const g of changes.groups) lines.push(`g ${g.name} ${g.gid}`);
  for (const u of changes.users) {
    // A user whose primary group is new and named after it gets it by name; any other gid is given as a number.
    const group = groupName.get(u.gid);
    lines.push(`u ${u.name} ${u.uid}:${group ?? u.gid} ${field(u.gecos)} ${field(u.home)} ${field(u.shell)}`);
  }
  for (const [user, group] of changes.memberships) lines.push(`m ${user} ${group}`);
  return lines.length ? lines.join('\n') + '\n' : '';
}

/** sysusers.d fields split on whitespace: quote what has any, '-' for empty. */
function field(value: string): string {
  if (value === '') return '-';
  return /[\s"'\\]/.test(value) ? `"${value.replace(/["\\]/g, '\\$&')}"` : value;
}
