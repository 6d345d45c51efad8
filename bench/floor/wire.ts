/** The floor harness's own frames (msgpack maps): just enough to move, confirm and ack a message. */
export type FloorMessage =
  | { t: 'subscribe' }
  | { t: 'send'; items: Array<{ key: string; topic: string; payload: Uint8Array }> }
  | { t: 'sent'; ids: string[] }
  | { t: 'deliver'; items: Array<{ id: string; payload: Uint8Array | undefined }> }
  | { t: 'ack'; ids: string[] }
  | { t: 'acked'; n: number }
  /** Asked on the consumer's connection after its last ACK: what the server still holds. */
  | { t: 'stats' }
  | { t: 'left'; messages: number };
