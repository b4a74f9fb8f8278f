import { describe, expect, it } from 'vitest';
import { originLayerState } from './deploy/deploy.js';
import { parseIni } from './discover/ini.js';
import { withRequests, type LayerState } from './discover/sysroot.js';
import { diffPackages } from './upgrade-plan.js';

const BASE = 'b'.repeat(64);
const dpkgOrder = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

describe('state written before requests were kept apart', () => {
  it('derives the requests from the history: installs not taken back, among what is still layered', () => {
    const old: LayerState = {
      baseCommit: BASE,
      backend: 'dpkg',
      requests: [['install', 'htop', 'jq=1.6-2'], ['install', 'tree'], ['uninstall', 'tree']],
      packages: [
        { name: 'htop', version: '3.2.2-2', arch: 'amd64', ref: 'r1' },
        { name: 'libnl-3-200', version: '3.7.0-0.2', arch: 'amd64', ref: 'r2' },
        { name: 'jq', version: '1.6-2', arch: 'amd64', ref: 'r3' },
      ],
    };
    const state = withRequests(old);
    expect(state.requested).toEqual([{ name: 'htop', text: 'htop' }, { name: 'jq', text: 'jq=1.6-2' }]);
    expect(state.packages.map((p) => [p.name, p.requested])).toEqual([['htop', true], ['libnl-3-200', false], ['jq', true]]);
  });

  it('leaves a state that already records its requests as it is', () => {
    const current: LayerState = { baseCommit: BASE, backend: 'rpm', requests: [], requested: [{ name: 'greet', text: 'greet' }], packages: [] };
    expect(withRequests(current)).toBe(current);
  });
});

describe('the origin group read back', () => {
  it('recognises what a deployment had layered from its origin alone (as ostree admin upgrade leaves it)', () => {
    const origin = parseIni(
      `[origin]\nrefspec=debian/bookworm/minbase\n\n[ostree-layer]\nbase-commit=${BASE}\nbackend=dpkg\n` +
        `requests=[["install","hello-app"]]\nrequested=[{"name":"hello-app","text":"hello-app"}]\npackages=hello-app=1:1.0-1:amd64;hello-lib=1.0-1:amd64\n`,
    );
    const state = originLayerState(origin)!;
    expect(state.baseCommit).toBe(BASE);
    expect(state.requested).toEqual([{ name: 'hello-app', text: 'hello-app' }]);
    expect(state.packages.map(({ name, version, arch }) => `${name} ${version} ${arch}`)).toEqual(['hello-app 1:1.0-1 amd64', 'hello-lib 1.0-1 amd64']);
    expect(originLayerState(parseIni('[origin]\nrefspec=debian/bookworm/minbase\n'))).toBeNull();
  });
});

describe('package differences', () => {
  it('sorts changes into added, removed, upgraded and downgraded by name and arch', () => {
    const before = [
      { name: 'a', version: '1.0', arch: 'amd64' },
      { name: 'b', version: '2.0', arch: 'amd64' },
      { name: 'c', version: '1.0', arch: 'all' },
      { name: 'd', version: '1.0', arch: 'amd64' },
    ];
    const after = [
      { name: 'a', version: '1.10', arch: 'amd64' },
      { name: 'b', version: '1.9', arch: 'amd64' },
      { name: 'c', version: '1.0', arch: 'all' },
      { name: 'e', version: '1.0', arch: 'amd64' },
    ];
    expect(diffPackages(before, after, dpkgOrder)).toEqual({
      added: [{ name: 'e', version: '1.0', arch: 'amd64' }],
      removed: [{ name: 'd', version: '1.0', arch: 'amd64' }],
      upgraded: [{ name: 'a', arch: 'amd64', from: '1.0', to: '1.10' }],
      downgraded: [{ name: 'b', arch: 'amd64', from: '2.0', to: '1.9' }],
    });
  });
});
