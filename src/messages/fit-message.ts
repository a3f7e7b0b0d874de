/** Gerrit rejects review messages over 16 KiB (`change.commentSizeLimit`); this leaves headroom under it. */
export const MAX_MESSAGE_BYTES = 16 * 1024 - 512;

const CUT_NOTE = "\n\n[message cut to fit Gerrit's size limit; see rollgate for the rest]";

/** `text` as it may be posted: unchanged when it fits, otherwise cut on a character boundary with a note saying so. */
export function fitMessage(text: string): string {
  if (Buffer.byteLength(text, 'utf8') <= MAX_MESSAGE_BYTES) return text;
  return Buffer.from(text).subarray(0, MAX_MESSAGE_BYTES - Buffer.byteLength(CUT_NOTE)).toString('utf8').replace(/\uFFFD+$/, '') + CUT_NOTE;
}
