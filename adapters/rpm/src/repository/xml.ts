/** Streaming XML for rpm-md: saxes fed from decompressed chunks, with element events and the text of leaves. */
import { StringDecoder } from 'node:string_decoder';
import { PackageFormatError } from '@ostree-layer/core';
import { loadSaxes } from '../lazy.js';

export interface XmlHandlers {
  open(name: string, attributes: Record<string, string>): void;
  /** `text` is the character data seen directly inside the element since it opened (only leaves use it). */
  close(name: string, text: string): void;
}

/** Parses the XML document from `chunks`; `what` names it in errors. */
export async function parseXml(chunks: AsyncIterable<Buffer>, what: string, handlers: XmlHandlers): Promise<void> {
  const parser = new (await loadSaxes()).SaxesParser();
  let text = '';
  let failure: Error | undefined;
  parser.on('opentag', (tag) => {
    text = '';
    handlers.open(tag.name, tag.attributes as Record<string, string>);
  });
  parser.on('text', (t) => (text += t));
  parser.on('cdata', (t) => (text += t));
  parser.on('closetag', (tag) => {
    handlers.close(tag.name, text);
    text = '';
  });
  parser.on('error', (err) => {
    failure ??= err;
  });
  const decoder = new StringDecoder('utf8');
  for await (const chunk of chunks) {
    parser.write(decoder.write(chunk));
    if (failure) break;
  }
  if (!failure) parser.write(decoder.end()).close();
  if (failure) throw new PackageFormatError(what, `is not well-formed XML (${failure.message}); the repository metadata is corrupt`);
}

export async function* once(buffer: Buffer): AsyncGenerator<Buffer> {
  yield buffer;
}
