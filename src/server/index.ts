// The HTTP surface (the `./server` subpath): hono and its node adapter load only from here.
export {
  createHttpApp,
  startHttpServer,
  type HttpApp,
  type HttpExtension,
  type HttpExtensionContext,
  type HttpOptions,
  type HttpServer,
  type HttpServerOptions,
} from './httpServer.js';
export { formatIssues, mapError, type ErrorBody, type ErrorCode, type ErrorContext, type ErrorStatus, type MappedError } from './errorMapper.js';
export { createUnavailableLog, type RequestPlace, type UnavailableLog } from './unavailableLog.js';
export { streamThreadEvents, type EventStreamOptions } from './eventStream.js';
export {
  createWebhookNotifier,
  signWebhook,
  verifyWebhookSignature,
  WEBHOOK_HEADERS,
  type WebhookDelivery,
  type WebhookEvent,
  type WebhookNotifier,
  type WebhookNotifierOptions,
  type WebhookPayload,
  type WebhookRetryOptions,
  type WebhookTarget,
} from './webhooks.js';
