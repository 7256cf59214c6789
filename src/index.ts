/** Package main: the protocol core, grouped by protocol. Node-RED loads the nodes from `nodes/` instead. */
export * as smartrest from './smartrest/index';
/** The endpoint's device tokens (`s/uat`): check one outside Node-RED with the endpoint's token secret. */
export { issueDeviceToken, verifyDeviceToken, TokenError, type DeviceToken } from './endpoint/token';
