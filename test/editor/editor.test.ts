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

// Browser globals used inside page.evaluate / waitForFunction callbacks (the
// test tsconfig has no DOM lib).
declare const RED: any;
declare const $: any;
declare const window: any;

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
    nr = await startNodeRed({ moduleDir: ROOT });
    await deployAndWait(nr, exampleFlows, 'full');

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
      assert.deepEqual((await p.locator('#node-config-input-state option').allTextContents()).map((t) => t.trim()), ['this instance (files in the user dir)', 'Redis (shared by instances)']);
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
