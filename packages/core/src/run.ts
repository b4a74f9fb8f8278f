/**
 * Runs a helper program (ostree, getfattr, the script sandbox) and collects what it prints. Node's own child_process
 * with the little the engine needs: input from a string, Buffer or stream, an abort signal, a time limit, its own
 * process group, a cap on collected output, and a typed failure carrying the exit status and stderr.
 *
 * Written here instead of taken from execa because of what loading execa costs: importing it (and the dozen packages
 * it pulls in) adds 16 MiB of resident memory to every command, measured on Node 20.20; that is a fifth of what
 * `apt-get -s install gnome-core` needs in all, which `install --dry-run` is held to.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';

export interface RunOptions {
  /** Fed on stdin (stdin is /dev/null without it). */
  input?: string | Buffer | Readable;
  /** Aborting kills the program (SIGTERM) and fails the run. */
  signal?: AbortSignal;
  /** Milliseconds before the program is killed and the run fails. */
  timeout?: number;
  /** Its own process group: a Ctrl-C on the terminal reaches us, not it. */
  detached?: boolean;
  /** stdout as a Buffer, exactly as printed; otherwise a string without its final newline. */
  encoding?: 'utf8' | 'buffer';
  /** Fails the run (killing the program) when stdout or stderr grows past this many bytes. Default 256 MiB. */
  maxBuffer?: number;
  /** Also collect stdout and stderr interleaved, as `all`. */
  all?: boolean;
  /** False: a non-zero exit is returned as a result with `failed` set instead of thrown. */
  reject?: boolean;
}

export interface RunResult<Out = string> {
  command: string;
  stdout: Out;
  stderr: string;
  all?: string;
  /** Null when the program did not exit by itself (killed, not started). */
  exitCode: number | null;
  failed: boolean;
  /** One line saying how it ended: "Command failed with exit code 1: ostree ls …". */
  shortMessage: string;
}

/** A run that failed: the program exited non-zero, was killed, timed out, printed too much, or could not start. */
export class CommandError extends Error implements RunResult<string | Buffer> {
  readonly failed = true;
  constructor(
    readonly shortMessage: string,
    readonly command: string,
    readonly stdout: string | Buffer,
    readonly stderr: string,
    readonly exitCode: number | null,
    readonly all?: string,
    options?: ErrorOptions,
  ) {
    super(stderr.trim() ? `${shortMessage}\n${stderr.trim()}` : shortMessage, options);
    this.name = 'CommandError';
  }
}

/** Programs still running, killed if we exit first (a detached one has its own group and is left to finish). */
const live = new Set<ChildProcess>();
let exitHook = false;

export function run(file: string, args: readonly string[], options: RunOptions & { encoding: 'buffer' }): Promise<RunResult<Buffer>>;
export function run(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult<string>>;
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult<string | Buffer>> {
  const command = [file, ...args].join(' ');
  const maxBuffer = options.maxBuffer ?? 256 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], detached: options.detached });
    track(child, options.detached);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const all: Buffer[] = [];
    const sizes = { out: 0, err: 0 };
    let why: string | undefined;
    let cause: unknown;
    const stop = (reason: string, error?: unknown) => {
      if (why !== undefined) return;
      why = reason;
      cause = error;
      child.kill('SIGTERM');
    };
    const collect = (into: Buffer[], key: 'out' | 'err') => (chunk: Buffer) => {
      sizes[key] += chunk.length;
      if (sizes[key] > maxBuffer) return stop(`printed more than ${maxBuffer} bytes on std${key}`);
      into.push(chunk);
      if (options.all) all.push(chunk);
    };
    child.stdout!.on('data', collect(out, 'out'));
    child.stderr!.on('data', collect(err, 'err'));

    const onAbort = () => stop('was canceled', options.signal?.reason);
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = options.timeout ? setTimeout(() => stop(`timed out after ${options.timeout} ms`), options.timeout) : undefined;

    if (options.input !== undefined) {
      const stdin = child.stdin!;
      // The program may exit without reading everything (it failed, or needs no more): not our error.
      stdin.on('error', () => undefined);
      if (typeof options.input === 'string' || Buffer.isBuffer(options.input)) stdin.end(options.input);
      else {
        const input = options.input;
        input.once('error', (e) => stop(`could not be fed its input (${e.message})`, e));
        input.pipe(stdin);
      }
    }

    let startError: Error | undefined;
    child.once('error', (e) => {
      startError = e;
    });
    child.once('close', (code, signal) => {
      live.delete(child);
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      const stdoutBytes = Buffer.concat(out);
      const stdout = options.encoding === 'buffer' ? stdoutBytes : stripNewline(stdoutBytes.toString('utf8'));
      const stderr = stripNewline(Buffer.concat(err).toString('utf8'));
      const allText = options.all ? stripNewline(Buffer.concat(all).toString('utf8')) : undefined;
      const exitCode = startError ? null : code;
      const shortMessage =
        startError !== undefined
          ? `Command failed with ${(startError as NodeJS.ErrnoException).code ?? 'an error'}: ${command}`
          : why !== undefined
            ? `Command ${why}: ${command}`
            : signal
              ? `Command was killed with ${signal}: ${command}`
              : code !== 0
                ? `Command failed with exit code ${code}: ${command}`
                : '';
      if (!shortMessage) return resolve({ command, stdout, stderr, all: allText, exitCode, failed: false, shortMessage: '' });
      const failure = new CommandError(shortMessage, command, stdout, stderr, exitCode, allText, { cause: startError ?? cause });
      if (options.reject === false) resolve(failure);
      else reject(failure);
    });
  });
}

/**
 * A program's stdout as a stream that ends only when the program succeeded; its failure (a non-zero exit) becomes
 * the stream's error. Destroying the stream kills the program.
 */
export function runStream(file: string, args: readonly string[]): Readable {
  const command = [file, ...args].join(' ');
  const out = new PassThrough();
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child, false);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    if (stderr.length < 64 * 1024) stderr += s;
  });
  child.stdout!.pipe(out, { end: false });
  let startError: Error | undefined;
  child.once('error', (e) => {
    startError = e;
  });
  child.once('close', (code, signal) => {
    live.delete(child);
    if (code === 0) return void out.end();
    const how = startError ? `failed with ${(startError as NodeJS.ErrnoException).code ?? 'an error'}` : signal ? `was killed with ${signal}` : `failed with exit code ${code}`;
    out.destroy(new CommandError(`Command ${how}: ${command}`, command, '', stripNewline(stderr), startError ? null : code, undefined, { cause: startError }));
  });
  out.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  return out;
}

function stripNewline(text: string): string {
  return text.endsWith('\n') ? text.slice(0, text.endsWith('\r\n') ? -2 : -1) : text;
}

function track(child: ChildProcess, detached: boolean | undefined): void {
  if (detached) return;
  live.add(child);
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const c of live) c.kill('SIGTERM');
  });
}
