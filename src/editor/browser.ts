/**
 * The editor's side of the package, as `window.DeviceProtocolsEditor` (bundled by scripts/build.js into
 * resources/device-protocols-editor.js, loaded by the edit dialogs with `<script src=…>` before their
 * `registerType`): the validators of ./validators and the palette search keywords.
 */
import * as validators from './validators';

// Browser globals (the package's tsconfig has no DOM lib).
declare const $: (selector: string) => { attr(name: string, value?: string): string | undefined; length: number };

/**
 * Words the palette search finds a node by, besides its label and type. Node-RED 4.1's palette filter matches
 * the type and the `data-palette-label` attribute of the palette entry only (no keywords of its own), so
 * `onpaletteadd` appends these words to that attribute; the label shown stays as it is.
 */
export const PALETTE_KEYWORDS: Record<string, string[]> = {
  'c8y-in': ['cumulocity', 'smartrest', 'mqtt', 'device', 'operations'],
  'c8y-out': ['cumulocity', 'smartrest', 'mqtt', 'device', 'measurement'],
  'c8y-device-registration': ['cumulocity', 'smartrest', 'mqtt', 'bootstrap', 'device'],
  'c8y-endpoint-in': ['cumulocity', 'smartrest', 'mqtt', 'endpoint', 'server'],
  'c8y-endpoint-out': ['cumulocity', 'smartrest', 'mqtt', 'endpoint', 'operations'],
  'c8y-endpoint-registration': ['cumulocity', 'smartrest', 'mqtt', 'endpoint', 'bootstrap'],
  'smartrest-encode': ['cumulocity', 'smartrest', 'csv'],
  'smartrest-decode': ['cumulocity', 'smartrest', 'csv'],
  'datacake-mqtt-in': ['datacake', 'mqtt'],
  'datacake-mqtt-out': ['datacake', 'mqtt'],
  'broker-bridge': ['mqtt', 'bridge', 'broker', 'datacake', 'cumulocity', 'smartrest'],
};

/** For `onpaletteadd`: makes the palette search find `type` by its keywords. */
export function paletteKeywords(type: string): void {
  const words = PALETTE_KEYWORDS[type];
  const entry = $(`.red-ui-palette-node[data-palette-type="${type}"]`);
  if (!words || !entry.length) return;
  const label = entry.attr('data-palette-label') ?? '';
  if (!label.includes(' · ')) entry.attr('data-palette-label', `${label} · ${words.join(' ')}`);
}

(globalThis as Record<string, unknown>).DeviceProtocolsEditor = { ...validators, paletteKeywords, PALETTE_KEYWORDS };
