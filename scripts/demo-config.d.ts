export declare const DEMO_DATACAKE: { host: string; port: number; token: string };
