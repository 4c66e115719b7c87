import { chownSync, readFileSync } from 'node:fs';

/** A user or group given by name or number, resolved from /etc/passwd and /etc/group. */
interface Account {
  name: string;
  id: number;
  /** Primary group (users only). */
  gid?: number;
}

function lookup(file: string, key: string, what: string): Account {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // no such file: numbers still work
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4) continue;
    if (f[0] === key || f[2] === key) return { name: f[0], id: Number(f[2]), gid: what === 'user' ? Number(f[3]) : undefined };
  }
  if (/^\d+$/.test(key)) return { name: key, id: Number(key) };
  throw new Error(`unknown ${what} ${JSON.stringify(key)} (not in ${file})`);
}

export const lookupUser = (key: string): Account => lookup('/etc/passwd', key, 'user');
export const lookupGroup = (key: string): Account => lookup('/etc/group', key, 'group');

/** --chown-socket user[:group]: names or numbers; an unknown name is an error, as in uWSGI. */
export function chownPath(path: string, spec: string): void {
  const [userPart, groupPart] = spec.split(':');
  const user = lookupUser(userPart);
  const gid = groupPart ? lookupGroup(groupPart).id : (user.gid ?? -1);
  chownSync(path, user.id, gid);
}

/**
 * --uid/--gid: drop the master's privileges once the sockets are bound and chowned; workers are
 * started afterwards and inherit them. Group first (it needs root), supplementary groups reset.
 */
export function dropPrivileges(uidSpec: string | undefined, gidSpec: string | undefined): string | undefined {
  if (!uidSpec && !gidSpec) return undefined;
  const user = uidSpec ? lookupUser(uidSpec) : undefined;
  const gid = gidSpec ? lookupGroup(gidSpec).id : user?.gid;
  if (gid !== undefined) {
    const initgroups = (process as { initgroups?: (user: string, gid: number) => void }).initgroups;
    if (user && initgroups) initgroups(user.name, gid);
    else process.setgroups?.([gid]);
    process.setgid!(gid);
  }
  if (user) process.setuid!(user.id);
  return `uid ${process.getuid!()} gid ${process.getgid!()}`;
}
