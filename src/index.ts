/** Package main: the protocol core, grouped by protocol. Node-RED loads the nodes from `nodes/` instead. */
export * as smartrest from './smartrest/index';
