/**
 * Headless editor smoke test (Playwright + Debian Chromium at /usr/bin/chromium).
 *
 * A real node-red with all examples deployed is opened in the editor; for every
 * node type of the package (discovered from package.json and the built editor
 * HTML) the palette entry, the edit dialog, the help text and "Done" are
 * exercised, then the result is deployed through the Deploy button. The page
 * must not log console errors. Screenshots: test-results/editor/<type>.png.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type Page, chromium } from 'playwright-core';
import {
  type NodeRedProcess,
  type PackageNodeType,
  REPO_ROOT,
  deployAndWait,
  formatLog,
  getFlows,
  listExamples,
  packageNodeTypes,
  startNodeRed,
} from '../support/nodered';
import { startDatacakeStandin, type DatacakeStandin } from '../../src/standin/datacake-broker';
import { DEMO_DATACAKE, exampleCredentials, randomSecrets, withCredentials } from '../../scripts/demo-config';

// Browser globals used inside page.evaluate / waitForFunction callbacks (the
// test tsconfig has no DOM lib).
declare const RED: any;
declare const $: any;
declare const window: any;
declare const document: any;
declare function getComputedStyle(el: any): any;

const CHROMIUM = '/usr/bin/chromium';
/** Only for checking this harness against another copy of the package; normally the repo. */
const ROOT = process.env.NR_TEST_PACKAGE_ROOT ? path.resolve(process.env.NR_TEST_PACKAGE_ROOT) : REPO_ROOT;
const SHOTS = path.join(REPO_ROOT, 'test-results', 'editor');
const PALETTE_CATEGORY = 'device protocols';
const EDITED_NAME = 'edited by editor test';
const UI_TIMEOUT = 30_000;

/**
 * Console messages that are not ours and are ignored, each with the reason.
 * Everything else logged as a console error, every uncaught page error and
 * every failed request to node-red fails the test.
 */
const IGNORED_CONSOLE: { re: RegExp; reason: string }[] = [
  // (none needed so far: with editorTheme.palette.catalogues = [] and tours off,
  //  Node-RED 4.1 loads nothing from outside the node-red process)
];

/** Palette groups in the order they must appear. */
const PALETTE_GROUPS: string[][] = [
  ['c8y-in', 'c8y-out', 'c8y-device-registration'],
  ['c8y-endpoint-in', 'c8y-endpoint-out', 'c8y-endpoint-registration'],
  ['smartrest-encode', 'smartrest-decode'],
  ['datacake-mqtt-in', 'datacake-mqtt-out'],
  ['broker-bridge'],
];
const CUMULOCITY_NODES = ['c8y-in', 'c8y-out', 'c8y-device-registration', 'c8y-endpoint-in', 'c8y-endpoint-out', 'c8y-endpoint-registration'];
/** What the palette search must show (exactly) for a word, within the package's category. */
const SEARCH_FINDS: Record<string, string[]> = {
  cumulocity: [...CUMULOCITY_NODES, 'smartrest-encode', 'smartrest-decode', 'broker-bridge'],
  smartrest: [...CUMULOCITY_NODES, 'smartrest-encode', 'smartrest-decode', 'broker-bridge'],
  datacake: ['datacake-mqtt-in', 'datacake-mqtt-out', 'broker-bridge'],
  bridge: ['broker-bridge'],
};

/** WCAG 2 contrast ratio of two CSS colours as the browser computes them (`rgb(r, g, b)`). */
function contrast(a: string, b: string): number {
  const lum = (c: string) => {
    const m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)/.exec(c);
    if (!m) return NaN;
    const [r, g, bl] = [m[1], m[2], m[3]].map((v) => {
      const x = Number(v) / 255;
      return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

interface InvalidCase {
  type: string;
  property: string;
  value: string;
  /** the validation message must match */
  message: RegExp;
  /** input to type into, when it is not #node-[config-]input-<property> */
  selector?: string;
  /** checkbox to tick first (a row shown only with it) */
  reveal?: string;
}
/** Values the runtime would refuse or silently replace: the editor must mark the node invalid. */
const INVALID_VALUES: InvalidCase[] = [
  { type: 'mqtt-broker-connection', property: 'port', value: '99999', message: /port must be a whole number from 1 to 65535/ },
  { type: 'mqtt-broker-connection', property: 'port', value: '-5', message: /port must be/ },
  { type: 'mqtt-broker-connection', property: 'keepalive', value: '-5', message: /keepalive must be/ },
  { type: 'c8y-device', property: 'port', value: '70000', message: /port must be/ },
  { type: 'c8y-device', property: 'keepalive', value: '-5', message: /keepalive must be/ },
  { type: 'c8y-device', property: 'queueSize', value: '-5', message: /offline queue must be/ },
  { type: 'c8y-endpoint', property: 'port', value: '70000', message: /port must be/ },
  { type: 'datacake-broker', property: 'port', value: '99999', message: /port must be/ },
  { type: 'datacake-broker', property: 'queueSize', value: '0', message: /offline queue must be/ },
  { type: 'c8y-device-registration', property: 'port', value: '-5', message: /port must be/ },
  { type: 'c8y-device-registration', property: 'interval', value: '-3', message: /poll interval must be/ },
  { type: 'datacake-mqtt-out', property: 'rate', value: '-5', message: /rate must be/ },
  { type: 'broker-bridge', property: 'outboxMessages', value: '-5', message: /outbox messages must be/ },
  { type: 'broker-bridge', property: 'ttl', value: '-1', message: /time to live must be/ },
  { type: 'smartrest-encode', property: 'maxBytes', value: '-5', message: /publish limit must be/ },
  { type: 'smartrest-encode', property: 'maxBytes', value: '10', message: /publish limit must be a whole number from 64/ },
  { type: 'c8y-endpoint-in', property: 'device', value: 'a/b#', message: /may not contain/ },
  { type: 'c8y-endpoint-in', property: 'device', value: '+', message: /may not contain/ },
  { type: 'c8y-endpoint-out', property: 'device', value: '+', message: /may not contain/ },
  { type: 'broker-bridge', property: 'rules', value: 'devices/#/s/us', selector: '.rule-filter', message: /"#" must be the last level/ },
  { type: 'broker-bridge', property: 'rules', value: '{nosuch}', selector: '.rule-target', message: /placeholder \{nosuch\} has no capture/ },
];

const types: PackageNodeType[] = packageNodeTypes(ROOT);
const examples = listExamples(ROOT);
const exampleFlows: any[] = examples.flatMap((e) => e.flows);

/**
 * Cancels every open edit tray (innermost first), so that a failed dialog test
 * does not leave a tray (and the header shade) over the next test.
 */
async function closeAllTrays(page: Page): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const open = await page.evaluate(() => $('.red-ui-tray').length);
    if (open === 0) return;
    await page.evaluate(() => {
      const tray = $('.red-ui-tray').last();
      const cancel = tray.find('#node-config-dialog-cancel, #node-dialog-cancel, #node-dialog-close').filter(':visible').first();
      if (cancel.length) cancel.trigger('click');
      else RED.tray.close();
    });
    await page.waitForFunction((n: number) => $('.red-ui-tray').length < n && $('.red-ui-tray:animated').length === 0, open);
  }
  throw new Error('could not close the open edit trays');
}

interface DialogResult {
  id: string;
  added: boolean;
  validBefore?: boolean;
  validAfter?: boolean;
  validationErrors?: unknown;
}

describe('editor (headless Chromium)', { concurrency: false }, () => {
  let nr: NodeRedProcess | undefined;
  let datacake: DatacakeStandin | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  const consoleErrors: string[] = [];
  const ignored: string[] = [];
  /** node ids added by the test (types without a node in the examples) */
  const added: { id: string; type: string; isConfig: boolean }[] = [];
  let renamedId: string | undefined;

  before(async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`);
    fs.mkdirSync(SHOTS, { recursive: true });
    // The examples run as `npm start` runs them (credentials made for this run, the local Datacake stand-in), so
    // that the statuses the layout test measures and the demo picture shows are those a user sees.
    const secrets = randomSecrets();
    datacake = await startDatacakeStandin({ ...DEMO_DATACAKE, token: secrets.datacake });
    nr = await startNodeRed({ moduleDir: ROOT });
    await deployAndWait(nr, withCredentials(exampleFlows, exampleCredentials(secrets)), 'full');

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    // tsx (esbuild, keepNames) wraps named functions inside evaluate callbacks in __name(); give the page one.
    await context.addInitScript('window.__name = function (f) { return f; };');
    page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT);
    const record = (text: string) => {
      const ign = IGNORED_CONSOLE.find((i) => i.re.test(text));
      if (ign) ignored.push(`${text} (ignored: ${ign.reason})`);
      else consoleErrors.push(text);
    };
    page.on('console', (m) => {
      if (m.type() === 'error') record(`console.error: ${m.text()} @ ${m.location().url}:${m.location().lineNumber}`);
    });
    page.on('pageerror', (e) => record(`pageerror: ${e.stack ?? e.message}`));
    page.on('requestfailed', (r) => record(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));

    await page.goto(`${nr.url}/`);
    const ourIds = exampleFlows.filter((n) => types.some((t) => t.type === n.type)).map((n) => n.id);
    await page.waitForFunction(
      ({ typeNames, ids }) =>
        !!(window.RED && RED.nodes && RED.nodes.getType && RED.view) &&
        typeNames.every((t: string) => RED.nodes.getType(t)) &&
        ids.every((id: string) => RED.nodes.node(id)) &&
        $('.red-ui-palette-node').length > 0 &&
        $('#red-ui-header-button-deploy').length > 0,
      { typeNames: types.map((t) => t.type), ids: ourIds },
      { timeout: 60_000 },
    );
  });

  after(async () => {
    try {
      await browser?.close();
    } finally {
      await nr?.stop();
      await datacake?.stop();
    }
  });

  it('the package declares node types', () => {
    assert.ok(types.length > 0, 'no node types found in package.json / editor HTML');
  });

  it('every node type is registered in the editor', async () => {
    assert.ok(page, 'editor did not load');
    const missing = await page.evaluate((names: string[]) => names.filter((t) => !RED.nodes.getType(t)), types.map((t) => t.type));
    assert.deepEqual(missing, []);
  });

  for (const t of types.filter((x) => !x.isConfig)) {
    it(`palette: "${t.type}" is in the "${PALETTE_CATEGORY}" category`, async () => {
      assert.ok(page, 'editor did not load');
      const entry = page.locator(`.red-ui-palette-node[data-palette-type="${t.type}"]`);
      assert.equal(await entry.count(), 1, `palette entry for ${t.type}`);
      const info = await entry.evaluate((el: any) => {
        const cat = $(el).closest('.red-ui-palette-category');
        return {
          category: cat.data('category'),
          header: cat.find('.red-ui-palette-header span').first().text().trim(),
          label: $(el).find('.red-ui-palette-label').text().trim(),
        };
      });
      assert.equal(info.category, PALETTE_CATEGORY, `${t.type}: palette category`);
      assert.equal(info.header.toLowerCase(), PALETTE_CATEGORY, `${t.type}: palette category header`);
      assert.ok(info.label.length > 0, `${t.type}: palette label is empty`);
    });
  }

  // Layout and picture first: the dialog tests below rename a node, which changes its width.
  it('examples: nodes do not overlap, and no wire crosses a status label', async () => {
    assert.ok(page, 'editor did not load');
    const p = page;
    await closeAllTrays(p);
    const tabs = exampleFlows.filter((n) => n.type === 'tab');
    const problems: string[] = [];
    for (const tab of tabs) {
      await p.evaluate((id: string) => RED.workspaces.show(id), tab.id);
      await p.waitForFunction((id: string) => RED.workspaces.active() === id && RED.nodes.filterNodes({ z: id }).every((n: any) => document.getElementById(n.id)), tab.id);
      // statuses come over the comms socket; let them land
      await p.waitForTimeout(300);
      const found: string[] = await p.evaluate((tabId: string) => {
        const out: string[] = [];
        const nodes = RED.nodes.filterNodes({ z: tabId });
        const box = (r: any) => ({ l: r.left, t: r.top, r: r.right, b: r.bottom });
        const hit = (a: any, b: any) => a.l < b.r - 1 && b.l < a.r - 1 && a.t < b.b - 1 && b.t < a.b - 1;
        const name = (n: any) => `${n.type} "${n.name || n.id}"`;
        // a node with its ports (5 px each side) and a little air: touching nodes hide their wires
        const grow = (b: any, by: number) => ({ l: b.l - by, t: b.t - by / 2, r: b.r + by, b: b.b + by / 2 });
        const rects = nodes.map((n: any) => ({ n, r: grow(box(document.getElementById(n.id).querySelector('.red-ui-flow-node').getBoundingClientRect()), 8) }));
        const labels: { n: any; r: any }[] = [];
        for (const n of nodes) {
          const st = document.getElementById(n.id).querySelector('.red-ui-flow-node-status-group');
          if (!st || getComputedStyle(st).display === 'none') continue;
          const r = st.getBoundingClientRect();
          if (r.width > 0) labels.push({ n, r: box(r) });
        }
        for (let i = 0; i < rects.length; i++) {
          for (let j = i + 1; j < rects.length; j++) if (hit(rects[i].r, rects[j].r)) out.push(`${name(rects[i].n)} overlaps ${name(rects[j].n)}`);
          for (const l of labels) if (l.n !== rects[i].n && hit(rects[i].r, l.r)) out.push(`${name(rects[i].n)} covers the status of ${name(l.n)}`);
        }
        for (const path of document.querySelectorAll('#red-ui-workspace-chart path.red-ui-flow-link-path')) {
          const d = path.__data__;
          if (!d || !d.source || d.source.z !== tabId) continue;
          const len = path.getTotalLength();
          const m = path.getScreenCTM();
          for (const l of labels) {
            for (let at = 0; at <= len; at += 3) {
              const pt = path.getPointAtLength(at);
              const x = m.a * pt.x + m.c * pt.y + m.e;
              const y = m.b * pt.x + m.d * pt.y + m.f;
              if (x > l.r.l && x < l.r.r && y > l.r.t && y < l.r.b) {
                out.push(`the wire ${name(d.source)} → ${name(d.target)} crosses the status of ${name(l.n)}`);
                break;
              }
            }
          }
        }
        return out;
      }, tab.id);
      for (const f of new Set(found)) problems.push(`${tab.label}: ${f}`);
      await p.screenshot({ path: path.join(SHOTS, `example-${String(tab.label).replace(/[^\w.-]+/g, '_')}.png`) });
    }
    assert.deepEqual(problems, []);
  });

  it('docs: a picture of the demo flow (test-results/editor/demo-flow.png; DOCS_PICTURE=1 also writes docs/demo-flow.png)', async () => {
    assert.ok(page, 'editor did not load');
    const p = page;
    const demo = examples.find((e) => e.name === 'demo');
    assert.ok(demo, 'examples/demo.json');
    const tab = demo.flows.find((n: any) => n.type === 'tab');
    await closeAllTrays(p);
    // the whole canvas width: the sidebar is closed for the picture and opened again afterwards
    const chartWidth = await p.evaluate((id: string) => {
      RED.workspaces.show(id);
      RED.view.select({ nodes: [] });
      const w = $('#red-ui-workspace-chart').width();
      RED.menu.setSelected('menu-item-sidebar', false);
      return w;
    }, tab.id);
    await p.waitForFunction((w: number) => $('#red-ui-workspace-chart').width() > w + 100 && $(':animated').length === 0, chartWidth);
    await p.waitForFunction((id: string) => RED.nodes.filterNodes({ z: id }).every((n: any) => document.getElementById(n.id)), tab.id);
    await p.waitForTimeout(500);
    const clip = await p.evaluate((id: string) => {
      let l = Infinity, t = Infinity, r = -Infinity, b = -Infinity;
      for (const n of RED.nodes.filterNodes({ z: id })) {
        const g = document.getElementById(n.id).getBoundingClientRect();
        const st = document.getElementById(n.id).querySelector('.red-ui-flow-node-status-group');
        const s = st && getComputedStyle(st).display !== 'none' ? st.getBoundingClientRect() : g;
        l = Math.min(l, g.left, s.left); t = Math.min(t, g.top); r = Math.max(r, g.right, s.right); b = Math.max(b, g.bottom, s.bottom);
      }
      // within the canvas only (not the palette or the sidebar)
      const c = document.getElementById('red-ui-workspace-chart').getBoundingClientRect();
      const x = Math.max(c.left + 2, l - 20), y = Math.max(c.top + 2, t - 20);
      return { x, y, width: Math.min(c.right - 20, r + 20) - x, height: Math.min(c.bottom - 20, b + 20) - y };
    }, tab.id);
    const file = path.join(SHOTS, 'demo-flow.png');
    await p.screenshot({ path: file, clip });
    await p.evaluate(() => RED.menu.setSelected('menu-item-sidebar', true));
    assert.ok(fs.statSync(file).size > 10_000, 'the picture is (nearly) empty');
    if (process.env.DOCS_PICTURE === '1') {
      fs.mkdirSync(path.join(REPO_ROOT, 'docs'), { recursive: true });
      fs.copyFileSync(file, path.join(REPO_ROOT, 'docs', 'demo-flow.png'));
    }
  });

  for (const t of types) {
    it(`dialog: "${t.type}" opens with form rows and help, and Done keeps it valid`, async () => {
      assert.ok(page, 'editor did not load');
      const p = page;
      await closeAllTrays(p);
      try {
        await exerciseDialog(p, t);
      } finally {
        await closeAllTrays(p).catch(() => undefined);
      }
    });
  }

  async function exerciseDialog(p: Page, t: PackageNodeType): Promise<void> {
    // 1. find (or add) a node of this type and open its dialog
    const existing = exampleFlows.find((n) => n.type === t.type);
    let id: string = existing?.id ?? '';
    let isAdded = false;
    if (!existing) {
      isAdded = true;
      if (t.isConfig) {
        id = '_ADD_';
      } else {
        id = await p.evaluate((type: string) => {
          const r = RED.view.createNode(type, 200, 200 + Math.round(Math.random() * 400));
          const n = RED.nodes.add(r.node);
          RED.editor.validateNode(n);
          RED.history.push(r.historyEvent);
          RED.nodes.dirty(true);
          RED.view.redraw(true);
          return n.id;
        }, t.type);
        added.push({ id, type: t.type, isConfig: false });
      }
    }
    const rename = !t.isConfig && !isAdded && !renamedId;
    let renamed = false;
    const ok = t.isConfig ? '#node-config-dialog-ok' : '#node-dialog-ok';
    const form = t.isConfig ? '#node-config-dialog-edit-form' : '#dialog-form';

    const pre = await p.evaluate(
      ({ id, type, isConfig }) => {
        const n = id === '_ADD_' ? undefined : RED.nodes.node(id);
        if (id !== '_ADD_' && !n) return { error: `node ${id} is not in the editor` };
        if (n && n.z && RED.nodes.workspace(n.z)) RED.workspaces.show(n.z);
        if (isConfig) RED.editor.editConfig('', type, id);
        else RED.editor.edit(n);
        return { valid: n ? n.valid : undefined };
      },
      { id, type: t.type, isConfig: t.isConfig },
    );
    assert.ok(!('error' in pre), (pre as any).error);
    await p.locator(ok).waitFor({ state: 'visible' });
    // 2. the dialog has form rows (config dialogs build their form after the tray opened)
    await p
      .locator(`${form} .form-row`)
      .first()
      .waitFor({ state: 'visible' })
      .catch(() => assert.fail(`${t.type}: the edit dialog shows no .form-row`));
    await p.waitForFunction(() => $('.red-ui-tray:animated').length === 0);

    // the dialog title names the node as the palette does
    const title = await p.evaluate((type: string) => {
      const def = RED.nodes.getType(type);
      return { text: $('.red-ui-tray').last().find('.red-ui-tray-titlebar').text().trim(), label: def.paletteLabel };
    }, t.type);
    assert.ok(title.label && title.text.includes(title.label), `${t.type}: dialog title ${JSON.stringify(title.text)} does not name ${JSON.stringify(title.label)}`);

    // 3. help in the sidebar
    const help = await p.evaluate((type: string) => {
      RED.sidebar.help.show(type);
      const title = $('.red-ui-help-title:visible').last();
      const body = title.nextAll('.red-ui-help').first();
      return {
        title: title.text().trim(),
        text: body.text().replace(/\s+/g, ' ').trim(),
        none: body.find('.red-ui-help-info-none').length,
        script: $(`script[data-help-name="${type}"]`).length,
      };
    }, t.type);
    assert.equal(help.script, 1, `${t.type}: no <script data-help-name="${t.type}"> in the editor`);
    assert.equal(help.none, 0, `${t.type}: help sidebar says there is no help`);
    assert.ok(help.text.length >= 40, `${t.type}: help text is (nearly) empty: ${JSON.stringify(help.text)}`);

    if (rename) {
      const name = p.locator('#node-input-name');
      if ((await name.count()) === 1 && (await name.isVisible())) {
        await name.fill(EDITED_NAME);
        renamed = true;
      }
    }
    await p.waitForFunction(() => $(':animated').length === 0);
    // 2b. selects and placeholders show their whole text
    const cut: string[] = await p.evaluate((formSel: string) => {
      const ctx = document.createElement('canvas').getContext('2d');
      const out: string[] = [];
      const width = (el: any, text: string) => {
        const cs = getComputedStyle(el);
        ctx.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
        return { need: ctx.measureText(text).width, has: el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) };
      };
      $(formSel).find('select:visible').each((_i: number, el: any) => {
        // a config node picker lists the user's own config node labels: not the dialog's text
        if ($(el).siblings('a.red-ui-button').find('.fa-pencil').length) return;
        for (const o of el.options) {
          const w = width(el, o.text);
          if (w.need > w.has - 18) out.push(`select #${el.id || el.className} option ${JSON.stringify(o.text)} (${Math.round(w.need)} px in ${Math.round(w.has - 18)} px)`);
        }
      });
      $(formSel).find('input[placeholder]:visible, textarea[placeholder]:visible').each((_i: number, el: any) => {
        const text = el.getAttribute('placeholder');
        if (!text || el.tagName === 'TEXTAREA') return;
        const w = width(el, text);
        if (w.need > w.has) out.push(`placeholder of #${el.id || el.className} ${JSON.stringify(text)} (${Math.round(w.need)} px in ${Math.round(w.has)} px)`);
      });
      return out;
    }, form);
    await p.screenshot({ path: path.join(SHOTS, `${t.type.replace(/[^\w.-]+/g, '_')}.png`) });

    // 4. Done closes the dialog and introduces no validation errors
    await p.locator(ok).click();
    await p.locator(ok).waitFor({ state: 'detached' });
    await p.waitForFunction(() => $('.red-ui-tray').length === 0 || $('.red-ui-tray:animated').length === 0);
    if (t.isConfig && id === '_ADD_') {
      id = await p.evaluate((type: string) => {
        const ids: string[] = [];
        RED.nodes.eachConfig((c: any) => {
          if (c.type === type) ids.push(c.id);
        });
        return ids[ids.length - 1] ?? '';
      }, t.type);
      assert.ok(id, `${t.type}: Done on a new config node did not add it`);
      added.push({ id, type: t.type, isConfig: true });
    }
    const post: DialogResult = await p.evaluate(
      ({ id, added }) => {
        const n = RED.nodes.node(id);
        return { id, added, validAfter: n?.valid, validationErrors: n?.validationErrors };
      },
      { id, added: isAdded },
    );
    if (pre.valid === true) {
      assert.equal(post.validAfter, true, `${t.type}: valid before the dialog, invalid after Done: ${JSON.stringify(post.validationErrors)}`);
    }
    assert.deepEqual(cut, [], `${t.type}: text cut off in the dialog`);
    if (renamed) {
      assert.equal(await p.evaluate((nid: string) => RED.nodes.node(nid).name, id), EDITED_NAME, `${t.type}: name typed in the dialog was not saved`);
      renamedId = id;
    }
  }

  it('c8y-device refuses a ":" in the device id in the editor (the ClientId separator)', async () => {
    assert.ok(page, 'editor did not load');
    const p = page;
    const dev = exampleFlows.find((n) => n.type === 'c8y-device');
    assert.ok(dev, 'an example has a c8y-device');
    await closeAllTrays(p);
    try {
      await p.evaluate((id: string) => RED.editor.editConfig('', 'c8y-device', id), dev.id);
      const input = p.locator('#node-config-input-deviceId');
      await input.waitFor({ state: 'visible' });
      await input.fill('dev:1');
      await input.dispatchEvent('change');
      await p.waitForFunction(() => $('#node-config-input-deviceId').hasClass('input-error'), undefined, { timeout: UI_TIMEOUT });
      assert.equal(await p.locator('#c8y-device-clientid').textContent(), 'd:dev:1', 'the ClientId preview follows the input');
      await input.fill('dev-1');
      await input.dispatchEvent('change');
      await p.waitForFunction(() => !$('#node-config-input-deviceId').hasClass('input-error'), undefined, { timeout: UI_TIMEOUT });
    } finally {
      // leave the node as it was
      await p.locator('#node-config-dialog-cancel').click().catch(() => undefined);
      await closeAllTrays(p).catch(() => undefined);
    }
  });

  // ---- issue 15: names, palette, contrast, validation, layout of the dialogs and the help ----

  it('palette: entries are ordered by group (device side, endpoint, SmartREST, Datacake, bridge)', async () => {
    assert.ok(page, 'editor did not load');
    const order: string[] = await page.evaluate(
      (cat: string) =>
        $('.red-ui-palette-node')
          .filter((_i: number, el: any) => $(el).closest('.red-ui-palette-category').data('category') === cat)
          .map((_i: number, el: any) => $(el).attr('data-palette-type'))
          .get(),
      PALETTE_CATEGORY,
    );
    const groupOf = (t: string) => PALETTE_GROUPS.findIndex((g) => g.includes(t));
    assert.deepEqual(order, [...order].sort((a, b) => groupOf(a) - groupOf(b)), `palette order ${order.join(', ')}`);
    assert.deepEqual([...order].sort(), PALETTE_GROUPS.flat().sort(), 'every palette node belongs to a group');
  });

  it('names: every node has a paletteLabel, titles and canvas labels tell the nodes apart', async () => {
    assert.ok(page, 'editor did not load');
    const info: { type: string; paletteLabel?: string; shown: string; canvas?: string; help: string }[] = await page.evaluate(
      (list: { type: string; isConfig: boolean }[]) =>
        list.map(({ type, isConfig }) => {
          const def = RED.nodes.getType(type);
          const defaults: Record<string, unknown> = {};
          for (const k of Object.keys(def.defaults)) defaults[k] = def.defaults[k].value;
          RED.sidebar.help.show(type);
          return {
            type,
            paletteLabel: typeof def.paletteLabel === 'function' ? def.paletteLabel.call(def) : def.paletteLabel,
            shown: $(`.red-ui-palette-node[data-palette-type="${type}"] .red-ui-palette-label`).text().trim(),
            canvas: isConfig ? undefined : def.label.call({ ...defaults, _def: def, type }),
            help: $('.red-ui-help-title:visible').last().text().trim(),
          };
        }),
      types.map((t) => ({ type: t.type, isConfig: t.isConfig })),
    );
    for (const i of info) {
      assert.ok(i.paletteLabel && i.paletteLabel.trim(), `${i.type}: no paletteLabel`);
      assert.ok(!/ - |-/.test(i.paletteLabel), `${i.type}: paletteLabel ${JSON.stringify(i.paletteLabel)} has a "-" (shown as "a - b")`);
      assert.equal(i.help, i.paletteLabel, `${i.type}: the help sidebar title is the palette label`);
    }
    const unique = (key: 'paletteLabel' | 'canvas') => {
      const seen = new Map<string, string>();
      for (const i of info) {
        const v = i[key];
        if (v === undefined) continue;
        assert.ok(!seen.has(v), `${key} ${JSON.stringify(v)} is used by both ${seen.get(v)} and ${i.type}`);
        seen.set(v, i.type);
      }
    };
    unique('paletteLabel');
    unique('canvas');
    const byType = Object.fromEntries(info.map((i) => [i.type, i]));
    assert.equal(byType['c8y-endpoint-registration'].paletteLabel, 'c8y endpoint registration');
    assert.equal(byType['c8y-device-registration'].paletteLabel, 'c8y device registration');
    assert.equal(byType['c8y-endpoint-registration'].canvas, 'c8y endpoint registration');
    assert.equal(byType['c8y-device-registration'].canvas, 'c8y device registration');
  });

  for (const [word, expected] of Object.entries(SEARCH_FINDS)) {
    it(`palette search: "${word}" finds ${expected.join(', ')}`, async () => {
      assert.ok(page, 'editor did not load');
      const p = page;
      const search = p.locator('#red-ui-palette-search input');
      await search.fill(word);
      await search.press('End'); // the search box filters on keyup
      try {
        // the palette's search box filters after a short delay
        const found = await p.waitForFunction(
          ({ cat, want }) => {
            const shown = $('.red-ui-palette-node:visible')
              .filter((_i: number, el: any) => $(el).closest('.red-ui-palette-category').data('category') === cat)
              .map((_i: number, el: any) => $(el).attr('data-palette-type'))
              .get()
              .sort();
            return JSON.stringify(shown) === JSON.stringify(want) ? shown : (window.__lastShown = shown, null);
          },
          { cat: PALETTE_CATEGORY, want: [...expected].sort() },
          { timeout: 10_000 },
        ).catch(async () => {
          const last = await p.evaluate(() => window.__lastShown);
          assert.fail(`palette search "${word}" shows ${JSON.stringify(last)}, expected ${JSON.stringify([...expected].sort())}`);
        });
        assert.ok(found);
      } finally {
        await search.fill('');
        await search.press('End');
        await p.waitForFunction(() => $('.red-ui-palette-node[data-filter="true"]').length === 0);
      }
    });
  }

  it('contrast: node labels on the node colours are at least 4.5:1, in the palette and on the canvas', async () => {
    assert.ok(page, 'editor did not load');
    const pairs: { where: string; fg: string; bg: string }[] = await page.evaluate(
      ({ list, cat }) => {
        const out: { where: string; fg: string; bg: string }[] = [];
        $('.red-ui-palette-node').each((_i: number, el: any) => {
          if ($(el).closest('.red-ui-palette-category').data('category') !== cat) return;
          const label = $(el).find('.red-ui-palette-label')[0];
          out.push({ where: `palette ${$(el).attr('data-palette-type')}`, fg: getComputedStyle(label).color, bg: getComputedStyle(el).backgroundColor });
        });
        RED.nodes.eachNode((n: any) => {
          if (!list.includes(n.type)) return;
          const g = document.getElementById(n.id);
          if (!g) return;
          RED.workspaces.show(n.z);
          const rect = g.querySelector('.red-ui-flow-node');
          const text = g.querySelector('.red-ui-flow-node-label text, text.red-ui-flow-node-label');
          if (rect && text) out.push({ where: `canvas ${n.type} ${n.id}`, fg: getComputedStyle(text).fill, bg: getComputedStyle(rect).fill });
        });
        return out;
      },
      { list: types.filter((t) => !t.isConfig).map((t) => t.type), cat: PALETTE_CATEGORY },
    );
    assert.ok(pairs.some((x) => x.where.startsWith('palette')), 'no palette entries measured');
    assert.ok(pairs.some((x) => x.where.startsWith('canvas')), 'no canvas nodes measured');
    const low = pairs.map((x) => ({ ...x, ratio: contrast(x.fg, x.bg) })).filter((x) => !(x.ratio >= 4.5));
    assert.deepEqual(low.map((x) => `${x.where}: ${x.fg} on ${x.bg} = ${x.ratio.toFixed(2)}:1`), []);
  });

  for (const c of INVALID_VALUES) {
    it(`validation: ${c.type} ${c.property} = ${JSON.stringify(c.value)} marks the node invalid (red triangle) with a message`, async () => {
      assert.ok(page, 'editor did not load');
      const p = page;
      await closeAllTrays(p);
      const ex = exampleFlows.find((n) => n.type === c.type);
      assert.ok(ex, `an example has a ${c.type}`);
      const isConfig = types.find((t) => t.type === c.type)?.isConfig ?? false;
      const before = await p.evaluate(({ id, property }) => RED.nodes.node(id)[property], { id: ex.id, property: c.property });
      try {
        // as a user does it: open the dialog, type the value, press Done
        await p.evaluate(
          ({ id, isConfig, type }) => {
            const n = RED.nodes.node(id);
            if (isConfig) RED.editor.editConfig('', type, id);
            else {
              RED.workspaces.show(n.z);
              RED.editor.edit(n);
            }
          },
          { id: ex.id, isConfig, type: c.type },
        );
        const ok = isConfig ? '#node-config-dialog-ok' : '#node-dialog-ok';
        await p.locator(ok).waitFor({ state: 'visible' });
        await p.waitForFunction(() => $('.red-ui-tray:animated').length === 0);
        const input = p.locator(c.selector ?? `#node-${isConfig ? 'config-' : ''}input-${c.property}`).first();
        await input.waitFor({ state: 'attached' });
        if (c.reveal) await p.evaluate((sel: string) => $(sel).prop('checked', true).trigger('change'), c.reveal);
        await input.fill(String(c.value));
        await input.dispatchEvent('change');
        await p.locator(ok).click();
        await p.locator(ok).waitFor({ state: 'detached' });
        await p.waitForFunction(() => $('.red-ui-tray').length === 0 || $('.red-ui-tray:animated').length === 0);
        const res = await p.evaluate(
          ({ id, isConfig }) => {
            const n = RED.nodes.node(id);
            // the triangle is drawn on the canvas node, or (config node) on the nodes that use it
            let user = n;
            if (isConfig) RED.nodes.eachNode((u: any) => { if (user === n && Object.keys(u._def.defaults).some((k) => u[k] === id)) user = u; });
            RED.workspaces.show(user.z);
            RED.editor.validateNode(user);
            RED.view.redraw(true);
            return { valid: n.valid, errors: n.validationErrors ?? [], userValid: user.valid, userId: user.id };
          },
          { id: ex.id, isConfig },
        );
        const triangle = await p
          .waitForFunction(
            (uid: string) => {
              const b = document.getElementById(uid)?.querySelector('.red-ui-flow-node-error');
              return !!b && getComputedStyle(b).display !== 'none' && b.getBoundingClientRect().width > 0;
            },
            res.userId,
            { timeout: 5_000 },
          )
          .then(() => true, () => false);
        assert.equal(res.valid, false, `${c.type}.${c.property} = ${JSON.stringify(c.value)} left the node valid`);
        assert.equal(res.userValid, false, 'the node on the canvas stays valid');
        assert.ok(triangle, `no red triangle on the canvas node ${res.userId}`);
        assert.ok(
          res.errors.some((e: string) => c.message.test(e)),
          `validation message ${JSON.stringify(res.errors)} does not match ${c.message}`,
        );
      } finally {
        await closeAllTrays(p).catch(() => undefined);
        await p.evaluate(
          ({ id, property, value }) => {
            const n = RED.nodes.node(id);
            n[property] = value;
            RED.nodes.eachNode((u: any) => RED.editor.validateNode(u));
            RED.nodes.eachConfig((u: any) => RED.editor.validateNode(u));
            RED.view.redraw(true);
          },
          { id: ex.id, property: c.property, value: before },
        );
      }
    });
  }

  it('validation: a bridge rule is checked by the runtime compiler while it is typed', async () => {
    assert.ok(page, 'editor did not load');
    const p = page;
    const bridge = exampleFlows.find((n) => n.type === 'broker-bridge');
    await closeAllTrays(p);
    try {
      await p.evaluate((id: string) => {
        const n = RED.nodes.node(id);
        RED.workspaces.show(n.z);
        RED.editor.edit(n);
      }, bridge.id);
      const target = p.locator('.rule-target').first();
      await target.waitFor({ state: 'visible' });
      await target.fill('{nosuch}');
      await p.waitForFunction(() => /placeholder \{nosuch\}/.test($('#broker-bridge-rules-error:visible').text()), undefined, { timeout: UI_TIMEOUT });
    } finally {
      await p.locator('#node-dialog-cancel').click().catch(() => undefined);
      await closeAllTrays(p).catch(() => undefined);
    }
  });

  it('c8y-endpoint: State offers this instance (default) and Redis; the Redis rows show only for Redis and check the URL', async () => {
    assert.ok(page, 'editor did not load');
    const p = page;
    const ep = exampleFlows.find((n) => n.type === 'c8y-endpoint');
    assert.ok(ep, 'an example has a c8y-endpoint');
    await closeAllTrays(p);
    try {
      await p.evaluate((id: string) => RED.editor.editConfig('', 'c8y-endpoint', id), ep.id);
      const select = p.locator('#node-config-input-state');
      await select.waitFor({ state: 'visible' });
      assert.equal(await select.inputValue(), 'local', 'a flow without the setting (older versions) is this instance');
      assert.deepEqual((await p.locator('#node-config-input-state option').allTextContents()).map((t) => t.trim()), ['this instance (files)', 'Redis (shared by instances)']);
      assert.equal(await p.locator('#node-config-input-redisUrl').isVisible(), false);
      await select.selectOption('redis');
      const url = p.locator('#node-config-input-redisUrl');
      await url.waitFor({ state: 'visible' });
      assert.equal(await p.locator('#node-config-input-redisPassword').getAttribute('type'), 'password');
      await url.fill('http://x');
      await url.dispatchEvent('change');
      await p.waitForFunction(() => $('#node-config-input-redisUrl').hasClass('input-error'), undefined, { timeout: UI_TIMEOUT });
      await url.fill('redis://127.0.0.1:6379');
      await url.dispatchEvent('change');
      await p.waitForFunction(() => !$('#node-config-input-redisUrl').hasClass('input-error'), undefined, { timeout: UI_TIMEOUT });
    } finally {
      // leave the node as it was
      await p.locator('#node-config-dialog-cancel').click().catch(() => undefined);
      await closeAllTrays(p).catch(() => undefined);
    }
  });

  it('c8y-endpoint-in offers the availability filter (labelled, selected, with its output label)', async () => {
    assert.ok(page, 'editor did not load');
    const p = page;
    const node = exampleFlows.find((n) => n.type === 'c8y-endpoint-in' && n.filter === 'availability');
    assert.ok(node, 'an example has a c8y-endpoint-in with the filter availability');
    await closeAllTrays(p);
    try {
      await p.evaluate((id: string) => RED.editor.edit(RED.nodes.node(id)), node.id);
      const select = p.locator('#node-input-filter');
      await select.waitFor({ state: 'visible' });
      assert.equal(await select.inputValue(), 'availability');
      assert.equal((await p.locator('#node-input-filter option[value="availability"]').textContent())?.trim(), 'availability changes (not records)');
      const labels = await p.evaluate((id: string) => {
        const n = RED.nodes.node(id);
        const def = RED.nodes.getType('c8y-endpoint-in');
        return [def.outputLabels.call(n, 0), def.outputLabels.call({ ...n, filter: 'all' }, 0)];
      }, node.id);
      assert.deepEqual(labels, ['availability change', 'decoded record']);
    } finally {
      await p.locator('#node-dialog-cancel').click().catch(() => undefined);
      await closeAllTrays(p).catch(() => undefined);
    }
  });

  for (const t of types) {
    it(`help: "${t.type}" follows Node-RED's layout (summary, Inputs, Outputs, Details, References)`, async () => {
      assert.ok(page, 'editor did not load');
      const h = await page.evaluate((type: string) => {
        const def = RED.nodes.getType(type);
        const body = $('<div>').html($(`script[data-help-name="${type}"]`).html());
        const first = body.children().first();
        const heads = body.children('h3').map((_i: number, e: any) => $(e).text().trim()).get();
        const dlAfter = (name: string) => {
          const hh = body.children('h3').filter((_i: number, e: any) => $(e).text().trim() === name);
          return hh.length ? hh.nextUntil('h3').filter('dl.message-properties').length + hh.nextUntil('h3').find('dl.message-properties').length : 0;
        };
        const refs = body.children('h3').filter((_i: number, e: any) => $(e).text().trim() === 'References').nextUntil('h3').find('a[href^="https://"]').length;
        // code samples as the sidebar shows them
        RED.sidebar.help.show(type);
        // a code sample fits when none of its lines is scrolled or wrapped (Node-RED's help wraps <pre>)
        const pres = $('.red-ui-help:visible pre').get().map((e: any) => {
          const cs = getComputedStyle(e);
          const shown = Math.round((e.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom)) / parseFloat(cs.lineHeight));
          const lines = e.textContent.replace(/\n$/, '').split('\n').length;
          return { text: e.textContent.slice(0, 40), over: Math.max(e.scrollWidth - e.clientWidth, shown > lines ? shown - lines : 0) };
        });
        // inline code and property names do not wrap: none may run past the sidebar's edge
        const edge = $('.red-ui-help:visible').last()[0].getBoundingClientRect().right;
        for (const e of $('.red-ui-help:visible').last().find('code, dt, pre').get()) {
          const over = Math.round(e.getBoundingClientRect().right - edge);
          if (over > 1) pres.push({ text: `${e.tagName.toLowerCase()} ${e.textContent.slice(0, 40)}`, over });
        }
        return { firstTag: first.prop('tagName'), firstText: first.text().trim(), heads, inDl: dlAfter('Inputs'), outDl: dlAfter('Outputs'), refs, inputs: def.inputs || 0, outputs: def.outputs || 0, pres };
      }, t.type);
      assert.equal(h.firstTag, 'P', `${t.type}: help starts with a summary paragraph`);
      assert.ok(h.firstText.length >= 20, `${t.type}: summary too short`);
      const expected = [...(h.inputs > 0 ? ['Inputs'] : []), ...(h.outputs > 0 ? ['Outputs'] : []), 'Details', 'References'];
      assert.deepEqual(h.heads, expected, `${t.type}: <h3> headings`);
      if (h.inputs > 0) assert.ok(h.inDl > 0, `${t.type}: Inputs without <dl class="message-properties">`);
      if (h.outputs > 0) assert.ok(h.outDl > 0, `${t.type}: Outputs without <dl class="message-properties">`);
      assert.ok(h.refs > 0, `${t.type}: References link no public documentation`);
      assert.deepEqual(h.pres.filter((x: { over: number }) => x.over > 1), [], `${t.type}: code samples wider than the sidebar`);
    });
  }

  it('examples are quiet: active debug nodes get at most one message per second on average', () => {
    const loud: string[] = [];
    for (const ex of examples) {
      const byId = new Map(ex.flows.map((n: any) => [n.id, n]));
      const upstream = new Map<string, string[]>();
      for (const n of ex.flows) for (const port of n.wires ?? []) for (const to of port) upstream.set(to, [...(upstream.get(to) ?? []), n.id]);
      // messages per minute a node emits on its own (inject repeat, bridge stats and samples)
      const own = (n: any): number => {
        if (n.type === 'inject' && Number(n.repeat) > 0) return 60 / Number(n.repeat);
        if (n.type === 'broker-bridge') return (Number(n.sampleEvery) > 0 ? Infinity : 0) + (Number(n.statsInterval ?? 10) > 0 ? 60 / Number(n.statsInterval ?? 10) : 0);
        return 0;
      };
      let perMinute = 0;
      for (const d of ex.flows.filter((n: any) => n.type === 'debug' && n.active !== false)) {
        const seen = new Set<string>();
        const queue = [d.id];
        while (queue.length) {
          const id = queue.shift()!;
          for (const up of upstream.get(id) ?? []) {
            if (seen.has(up)) continue;
            seen.add(up);
            perMinute += own(byId.get(up));
            queue.push(up);
          }
        }
      }
      if (perMinute > 60) loud.push(`${ex.name}: about ${perMinute} debug messages per minute`);
    }
    assert.deepEqual(loud, []);
  });

  it('c8y-out and c8y-device: the JSON format is offered, shown and kept through the dialog', async () => {
    assert.ok(page, 'editor did not load');
    const p = page;
    const out = exampleFlows.find((n) => n.type === 'c8y-out' && n.format === 'json');
    const dev = exampleFlows.find((n) => n.type === 'c8y-device' && n.format === 'json');
    assert.ok(out && dev, 'an example has a JSON c8y-out and c8y-device');
    await closeAllTrays(p);
    try {
      await p.evaluate((id: string) => {
        const n = RED.nodes.node(id);
        if (n.z) RED.workspaces.show(n.z);
        RED.editor.edit(n);
      }, out.id);
      const select = p.locator('#node-input-format');
      await select.waitFor({ state: 'visible' });
      assert.equal(await select.inputValue(), 'json');
      assert.deepEqual(await select.locator('option').evaluateAll((os: any[]) => os.map((o) => o.value)), ['smartrest', 'json']);
      await p.locator('#node-dialog-ok').click();
      await closeAllTrays(p);
      assert.equal(await p.evaluate((id: string) => RED.nodes.node(id).format, out.id), 'json');
      await p.evaluate((id: string) => RED.editor.editConfig('', 'c8y-device', id), dev.id);
      const devSelect = p.locator('#node-config-input-format');
      await devSelect.waitFor({ state: 'visible' });
      assert.equal(await devSelect.inputValue(), 'json');
    } finally {
      await p.locator('#node-config-dialog-cancel').click().catch(() => undefined);
      await closeAllTrays(p).catch(() => undefined);
    }
  });

  it('datacake-mqtt-out: a non-ASCII field name stays as typed and is marked, never upper-cased into another field', async () => {
    assert.ok(page, 'editor did not load');
    const p = page;
    const out = exampleFlows.find((n) => n.type === 'datacake-mqtt-out');
    assert.ok(out, 'an example has a datacake-mqtt-out');
    await closeAllTrays(p);
    try {
      await p.evaluate((id: string) => {
        const n = RED.nodes.node(id);
        if (n.z) RED.workspaces.show(n.z);
        RED.editor.edit(n);
      }, out.id);
      const input = p.locator('#node-input-field');
      await input.waitFor({ state: 'visible' });
      // 'straße'.toUpperCase() is 'STRASSE', a valid name of another field
      await input.fill('straße');
      await input.dispatchEvent('change');
      await p.waitForFunction(() => $('#node-input-field').hasClass('input-error'), undefined, { timeout: UI_TIMEOUT });
      assert.equal(await input.inputValue(), 'straße');
      await input.fill('+');
      await input.dispatchEvent('change');
      await p.waitForFunction(() => $('#node-input-field').hasClass('input-error'), undefined, { timeout: UI_TIMEOUT });
      await input.fill('temp_1');
      await input.dispatchEvent('change');
      await p.waitForFunction(() => !$('#node-input-field').hasClass('input-error'), undefined, { timeout: UI_TIMEOUT });
      assert.equal(await input.inputValue(), 'TEMP_1');
    } finally {
      // leave the node as it was
      await p.locator('#node-dialog-cancel').click().catch(() => undefined);
      await closeAllTrays(p).catch(() => undefined);
    }
  });

  it('Deploy button: the edited flows deploy and reach the runtime', async (t) => {
    assert.ok(page && nr, 'editor did not load');
    const p = page;
    const srv = nr;
    await closeAllTrays(p);
    // Nodes the test added that are not valid with their defaults (e.g. they need a
    // config node) are removed again: they would only trigger the "not properly
    // configured" confirmation. They are reported as diagnostics.
    const removed: string[] = await p.evaluate((list: { id: string; type: string }[]) => {
      const out: string[] = [];
      for (const a of list) {
        const n = RED.nodes.node(a.id);
        if (n && !n.valid) {
          out.push(`${a.type} (${a.id}): ${JSON.stringify(n.validationErrors ?? [])}`);
          RED.nodes.remove(a.id);
        }
      }
      RED.nodes.dirty(true);
      RED.view.redraw(true);
      return out;
    }, added);
    for (const r of removed) t.diagnostic(`removed a node the test added, invalid with its defaults: ${r}`);

    let expectComment: string | undefined;
    if (!renamedId) {
      // nothing was renamed: make sure there is a real change to deploy
      expectComment = await p.evaluate(() => {
        const r = RED.view.createNode('comment', 120, 40);
        r.node.name = 'added by editor test';
        const n = RED.nodes.add(r.node);
        RED.editor.validateNode(n);
        RED.history.push(r.historyEvent);
        RED.nodes.dirty(true);
        RED.view.redraw(true);
        return n.id;
      });
    }
    const deploy = p.locator('#red-ui-header-button-deploy');
    await p.waitForFunction(() => !$('#red-ui-header-button-deploy').hasClass('disabled'));
    const mark = srv.log.length;
    await deploy.click();
    const outcome = await p.waitForFunction(
      () => {
        const texts = $('.red-ui-notification:visible')
          .map((_i: number, e: any) => $(e).text().replace(/\s+/g, ' ').trim())
          .get();
        if (!RED.nodes.dirty() && $('#red-ui-header-button-deploy').hasClass('disabled')) return { ok: true, texts };
        const problem = texts.find((x: string) => /not properly configured|unknown|Error|conflict/i.test(x));
        return problem ? { ok: false, texts } : null;
      },
      undefined,
      { timeout: UI_TIMEOUT },
    );
    const res = (await outcome.jsonValue()) as { ok: boolean; texts: string[] };
    assert.ok(res.ok, `deploy through the UI did not succeed: ${res.texts.join(' | ')}`);
    await srv.waitForLog(/\[info\] Started (flows|modified nodes|modified flows)/, mark, UI_TIMEOUT);

    const flows = await getFlows(srv.url);
    if (renamedId) {
      assert.equal(flows.find((n) => n.id === renamedId)?.name, EDITED_NAME, 'the renamed node did not reach the runtime');
    } else {
      assert.ok(flows.some((n) => n.id === expectComment), 'the added comment node did not reach the runtime');
    }
    for (const a of added) {
      if (removed.some((r) => r.includes(`(${a.id})`))) continue;
      assert.ok(flows.some((n) => n.id === a.id), `node ${a.type} (${a.id}) added in the editor is not in the deployed flows`);
    }
    for (const n of exampleFlows) {
      assert.ok(flows.some((f) => f.id === n.id), `example node ${n.type} ${n.id} was lost by the UI deploy`);
    }
    const errors = srv.errorsSince(mark);
    assert.deepEqual(errors, [], `errors after the UI deploy:\n${formatLog(srv.log, mark)}`);
  });

  it('the editor logged no console errors', (t) => {
    for (const i of ignored) t.diagnostic(i);
    assert.deepEqual(consoleErrors, []);
  });
});
