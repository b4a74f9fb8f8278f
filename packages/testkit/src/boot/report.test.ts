import { describe, expect, it } from 'vitest';
import { parseReport, REPORT_BEGIN, REPORT_END } from './report.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');
const fact = (name: string, stdout: string, exit = 0, stderr = '') =>
  [`OSTREE-LAYER-REPORT ${name} stdout ${b64(stdout)}`, `OSTREE-LAYER-REPORT ${name} stderr ${b64(stderr)}`, `OSTREE-LAYER-REPORT ${name} exit ${exit}`];
const commit = 'a'.repeat(64);

function serial(extra: string[]): string {
  return [
    '[    0.000000] Linux version 6.1.0',
    REPORT_BEGIN,
    `OSTREE-LAYER-REPORT _systemState stdout ${b64('degraded\n')}`,
    ...fact('_failedUnits', 'systemd-remount-fs.service loaded failed failed Remount Root and Kernel File Systems\n', 0),
    ...fact('_jobs', ''),
    ...fact('_ostreeAdminStatus', `* debian ${commit}.1\n    origin refspec: debian\n  debian ${'b'.repeat(64)}.0 (rollback)\n`),
    '[   41.000000] systemd[1]: a console message between two report lines',
    ...fact('_cmdline', 'root=/dev/vda ostree=/ostree/boot.1/debian/x/0\n'),
    ...extra,
    REPORT_END,
    '[   42.000000] reboot: Power down',
  ].join('\r\n');
}

describe('parseReport', () => {
  it('decodes every fact from a serial log with console noise and CRLF line ends', () => {
    const report = parseReport(serial(fact('htop', 'htop 3.2.2\n', 0, 'warning\n')), ['htop']);
    expect(report).not.toBeNull();
    expect(report!.systemState).toBe('degraded');
    expect(report!.failedUnits).toEqual(['systemd-remount-fs.service']);
    expect(report!.pendingJobs).toEqual([]);
    expect(report!.booted).toEqual({ osName: 'debian', commit, serial: 1 });
    expect(report!.cmdline).toBe('root=/dev/vda ostree=/ostree/boot.1/debian/x/0');
    expect(report!.commands.htop).toEqual({ stdout: 'htop 3.2.2\n', stderr: 'warning\n', exitCode: 0 });
  });

  it('keeps an empty output and a failing exit code', () => {
    const report = parseReport(serial(fact('touch', '', 1, 'touch: Read-only file system\n')), ['touch']);
    expect(report!.commands.touch).toEqual({ stdout: '', stderr: 'touch: Read-only file system\n', exitCode: 1 });
  });

  it('is null when the report is cut short or a requested command never answered', () => {
    const full = serial(fact('htop', 'htop 3.2.2\n'));
    expect(parseReport(full.slice(0, full.indexOf(REPORT_END)), ['htop'])).toBeNull();
    expect(parseReport(full, ['htop', 'missing'])).toBeNull();
    expect(parseReport('no report at all', [])).toBeNull();
  });
});
