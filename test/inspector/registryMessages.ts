import type { PresenceMessage } from '../../src/inspector/inspectionMessages.js';

let sequence = 0;

/** The fields every inspection message a runtime of session `sessionId` publishes at `at` carries (a fresh id each). */
export const messageHead = (sessionId: string, at: number) => ({ sessionId, rootId: 'x:0', createdAt: String(at), id: `m:${++sequence}`, _version: '0.7.2' });

/** A process's presence message (`alive` with its heartbeat interval, or `gone`) sent at `at`. */
export const presence = (processId: string, state: PresenceMessage['state'], intervalMs: number, at: number): PresenceMessage => ({
  type: '@switchyard.presence',
  processId,
  state,
  intervalMs,
  createdAt: String(at),
});
