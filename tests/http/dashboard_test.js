// End-to-end test of the dashboard in headless Chromium (run by
// http_cluster_run, which starts the cluster and sets TROUPE_LEADER_URL).
// Loads the page; with TROUPE_ADMIN_TOKEN set (the nodes require tokens) the
// API answers 401, the page shows its token form, and after the token is
// entered everything loads, the token in sessionStorage and nowhere else.
// Then cancels a long job from its row, submits a job through the form, sees
// it complete with its output, checks that job data is rendered as text
// (never as HTML), and saves a screenshot.
//   node dashboard_test.js <screenshot.png>
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const assert = require("assert");
let chromium;
try {
  ({ chromium } = require("playwright-core"));
} catch (e) {
  console.error("FAIL: playwright-core is not installed: run `npm ci` in " + __dirname);
  process.exit(1);
}

const base = process.env.TROUPE_LEADER_URL;
const token = process.env.TROUPE_ADMIN_TOKEN || "";
const screenshot = process.argv[2];
if (!base || !screenshot) {
  console.error("usage: TROUPE_LEADER_URL=http://127.0.0.1:PORT node dashboard_test.js <screenshot.png>");
  process.exit(2);
}

const step = (s) => console.log(new Date().toISOString() + " " + s);

// page.waitForFunction polls with eval() inside the page, which the
// dashboard's CSP (script-src 'self', no 'unsafe-eval') forbids; page.evaluate
// goes through the DevTools protocol, which the CSP does not govern. The page
// must keep working under its real CSP, so the test does not bypass it.
async function until(page, predicate, arg, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await page.evaluate(predicate, arg)) return;
    if (Date.now() > deadline) throw new Error("timed out after " + timeoutMs + " ms waiting for " + predicate.toString());
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "troupe-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1400, height: 1050 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    timeout: 30000,
  });
  const errors = [];
  try {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(20000);
    page.on("pageerror", (e) => errors.push("page error: " + e.message));
    // The one deliberate 400 (the empty command below) is expected; nothing else may fail.
    // Before the token is entered the API's 401s are expected (and Chromium
    // logs each as a console error); after it, none.
    let signedIn = !token;
    page.on("console", (m) => {
      if (m.type() === "error" && !/status of 400 \(Bad Request\)/.test(m.text()) &&
          !(!signedIn && /status of 401 \(Unauthorized\)/.test(m.text()))) errors.push("console error: " + m.text());
    });
    const failed = [];
    page.on("response", (r) => {
      if (r.status() === 401 && !signedIn) return;
      if (r.status() >= 400 && !(r.request().method() === "POST" && r.status() === 400)) failed.push(r.status() + " " + r.url());
    });
    // Only our own origin: the page must need no external asset.
    const foreign = [];
    page.on("request", (r) => { if (!r.url().startsWith(base)) foreign.push(r.url()); });

    step("load " + base + "/");
    const resp = await page.goto(base + "/", { waitUntil: "load" });
    assert.strictEqual(resp.status(), 200);
    assert.strictEqual(await page.title(), "troupe dashboard");
    if (token) {
      step("the API answers 401: the page asks for a token");
      await page.waitForSelector("#login-section:not([hidden])");
      await until(page, () => document.getElementById("conn").textContent === "token required");
      assert.strictEqual(await page.locator("#jobs tbody tr").count(), 0, "jobs were shown without a token");
      step("a wrong token is refused and the form asks again");
      await page.fill("#token-input", "not-the-token");
      const refused = page.waitForResponse((r) => r.status() === 401);
      await page.click("#token-form button[type=submit]");
      await refused;
      await page.waitForTimeout(500);  // let the other calls made with the wrong token come back
      await page.waitForSelector("#login-section:not([hidden])");
      await until(page, () => /refused/.test(document.getElementById("login-reason").textContent));
      step("enter the token");
      await page.fill("#token-input", token);
      await page.click("#token-form button[type=submit]");
      await page.waitForSelector("#login-section", { state: "hidden" });
      signedIn = true;
      await until(page, () => /matching/.test(document.getElementById("jobs-count").textContent));
      const stored = await page.evaluate(() => ({
        session: sessionStorage.getItem("troupe.token"),
        local: Object.keys(localStorage).map((k) => localStorage.getItem(k)),
        cookies: document.cookie,
      }));
      assert.strictEqual(stored.session, token, "the token is not in sessionStorage");
      assert.deepStrictEqual(stored.local, [], "something was put in localStorage");
      assert.ok(!stored.cookies.includes(token), "the token is in a cookie");
    }
    await until(page, () => document.querySelectorAll("#nodes tbody tr").length === 3);
    await until(page, () => document.getElementById("conn").textContent === "live");
    await until(page, () => document.querySelectorAll("#topology tbody tr").length >= 4);
    await until(page, () => document.querySelectorAll("#raft-log tbody tr").length >= 1);

    step("submit sleep 60 and cancel it from its row");
    await page.fill("#submit-command", "sleep 60");
    await page.click("#submit-form button[type=submit]");
    await until(page, () => /^submitted /.test(document.getElementById("submit-result").textContent));
    const longId = await page.getAttribute("#submit-result", "data-job-id");
    const longRow = `#jobs tbody tr[data-job-id="${longId}"]`;
    await page.waitForSelector(longRow + '[data-status="running"]', { timeout: 20000 });
    await page.click(longRow + " button.cancel");
    await page.waitForSelector(longRow + '[data-status="cancelled"]', { timeout: 20000 });
    step("cancelled " + longId);

    step("an empty command is rejected by the server and shown as an error");
    await page.evaluate(() => document.getElementById("submit-command").removeAttribute("required"));
    await page.fill("#submit-command", "");
    await page.click("#submit-form button[type=submit]");
    await until(page, () => /^rejected: command must not be empty/.test(document.getElementById("submit-result").textContent));

    step("submit a job whose command and output look like HTML");
    const marker = "dash" + Date.now();
    const evil = `echo '<img src=x onerror="window.__xss=1">${marker}'`;
    await page.fill("#submit-command", evil);
    await page.click("#submit-form button[type=submit]");
    await until(page, (m) => document.getElementById("job-view-output").textContent.includes(m), marker);
    const evilId = await page.getAttribute("#submit-result", "data-job-id");
    assert.strictEqual(await page.evaluate(() => window.__xss), undefined, "job output was interpreted as HTML");
    assert.strictEqual(await page.locator("#job-view img, #jobs img").count(), 0, "an <img> from job data was rendered");
    assert.strictEqual(await page.textContent("#job-view-output"), `<img src=x onerror="window.__xss=1">${marker}\n`);
    await page.waitForSelector(`#jobs tbody tr[data-job-id="${evilId}"][data-status="completed"]`);

    step("submit echo through the form and watch it complete with its output");
    await page.fill("#submit-command", "echo hello from the dashboard");
    await page.click("#submit-form button[type=submit]");
    await until(page, (prev) => {
      const id = document.getElementById("submit-result").dataset.jobId;
      return id && id !== prev && document.getElementById("job-view-id").textContent === id &&
        document.getElementById("job-view-fields").dataset.status === "completed";
    }, evilId);
    const okId = await page.getAttribute("#submit-result", "data-job-id");
    assert.strictEqual(await page.textContent("#job-view-output"), "hello from the dashboard\n");
    await page.waitForSelector(`#jobs tbody tr[data-job-id="${okId}"][data-status="completed"]`);

    step("status filter shows only cancelled jobs");
    await page.selectOption("#filter-status", "cancelled");
    await until(page, () => {
      const rows = [...document.querySelectorAll("#jobs tbody tr")];
      return rows.length >= 1 && rows.every((r) => r.dataset.status === "cancelled");
    });
    await page.selectOption("#filter-status", "");
    await until(page, () => document.querySelectorAll("#jobs tbody tr").length >= 3);

    // Put the completed job back in view for the screenshot.
    await page.click(`#jobs tbody tr[data-job-id="${okId}"]`);
    await until(page, () => document.getElementById("job-view-fields").dataset.status === "completed");
    await page.waitForTimeout(2200);  // one more slow refresh: cluster, raft log, topology
    await page.screenshot({ path: screenshot, fullPage: true });
    step("screenshot " + screenshot);

    assert.deepStrictEqual(foreign, [], "the page requested something outside " + base);
    if (token) {
      const inUrl = await page.evaluate((t) => performance.getEntriesByType("resource").some((e) => e.name.includes(t)), token);
      assert.strictEqual(inUrl, false, "the token appeared in a request URL");
    }
    assert.deepStrictEqual(failed, [], "requests of the page failed");
    assert.deepStrictEqual(errors, [], "the page logged errors");
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().then(() => { step("PASS"); process.exit(0); },
  (e) => { console.error("FAIL: " + (e && e.stack || e)); process.exit(1); });
