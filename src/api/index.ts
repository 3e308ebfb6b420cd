export * from '../app/operator-api.js';
export { startApiServer, type ApiServer, type ApiServerOptions } from './server.js';
export { ApiClient, ApiRequestError, type ApiClientOptions } from './client.js';
export { HttpError, HttpErrorCode, toErrorResponse, type ErrorBody } from './http-errors.js';
export { isAuthorized } from './auth.js';
