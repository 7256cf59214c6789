export type DemoSecrets = Record<'device' | 'bootstrap' | 'service' | 'datacake' | 'example' | 'exampleBootstrap', string>;
export declare const DEMO_DATACAKE: { host: string; port: number };
export declare const DEMO_ENDPOINT: { host: string; port: number };
export declare function randomSecrets(): DemoSecrets;
export declare function demoSecrets(userDir: string): DemoSecrets;
export declare function exampleCredentials(secrets: DemoSecrets): Record<string, Record<string, string>>;
export declare function withCredentials<T extends { id: string }>(flows: T[], credentials: Record<string, Record<string, string>>): T[];
