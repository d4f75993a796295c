// Legacy devices in a real Chromium (issue 16): a scanner has signed in without TLS through a
// `plain` [[listeners]] entry; the admin signs in, sees the count of devices on legacy paths on
// the home page, follows its link to the SMTP AUTH clients report filtered to them, and finds
// the Legacy path badge in the sign-in log. Run by crates/authrelay/tests/legacy_devices.rs with
// ADMIN_URL, ADMIN_ADDRESS, ADMIN_PASSWORD, USER_ADDRESS, WALK_LANG, SCREENSHOT_DIR, CHROMIUM.

import fs from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";
import { env, launch, localizationLeaks } from "./common.mjs";

const ADMIN_URL = env("ADMIN_URL");
const LANG = env("WALK_LANG", "en");
const USER_ADDRESS = env("USER_ADDRESS");
const SHOTS = path.join(env("SCREENSHOT_DIR"), LANG);
const TEXT = {
  en: { home: "Devices on legacy paths", badge: "Legacy path" },
  ko: { home: "레거시 경로", badge: "레거시 경로" },
  id: { home: "jalur lawas", badge: "Jalur lawas" },
}[LANG];
assert.ok(TEXT, `unknown language ${LANG}`);

fs.mkdirSync(SHOTS, { recursive: true });
const { page, problems, close } = await launch(env("CHROMIUM", "/usr/bin/chromium"), LANG);
const shot = (name) => page.screenshot({ path: path.join(SHOTS, `legacy-${name}-${LANG}.png`), fullPage: true });
try {
  await page.goto(`${ADMIN_URL}/signin`);
  if (LANG === "id") {
    await Promise.all([page.waitForNavigation(), page.selectOption("#lang-switch", "id")]);
  }
  await page.fill("#address", env("ADMIN_ADDRESS"));
  await page.fill("#password", env("ADMIN_PASSWORD"));
  await page.click("#signin-submit");
  await page.waitForURL(`${ADMIN_URL}/`);
  const card = page.locator(".card", { has: page.locator("#home-legacy") });
  assert.ok((await card.innerText()).includes(TEXT.home), await card.innerText());
  assert.equal((await page.locator("#home-legacy").innerText()).trim(), "1");
  await shot("home");
  await Promise.all([page.waitForNavigation(), page.click("#home-legacy-link")]);
  assert.ok(page.url().includes("legacy=1"), page.url());
  assert.equal(await page.locator("#legacy").isChecked(), true, "the filter is on");
  const rows = page.locator("tr.report-row");
  assert.equal(await rows.count(), 1, "only the sender on a legacy path");
  assert.equal(await rows.first().getAttribute("data-user"), USER_ADDRESS);
  assert.match(await rows.first().locator(".report-legacy").innerText(), /^plain 127\.0\.0\.1:0 \(none\)$/);
  await shot("report");
  await page.goto(`${ADMIN_URL}/signins?legacy=1`);
  const badge = page.locator("#signins-table .badge.legacy").first();
  assert.ok((await badge.innerText()).startsWith(TEXT.badge), await badge.innerText());
  await shot("signins");
  const leaks = await localizationLeaks(page, LANG);
  assert.deepEqual(leaks, [], "pages show English values, raw ids or RFC 3339 times");
  assert.deepEqual(problems, [], "script errors on the pages");
  console.log(`[${LANG}] legacy walk passed`);
} catch (e) {
  await shot("failure").catch(() => {});
  console.error(`[${LANG}] legacy walk failed at ${page.url()}:`, e);
  process.exitCode = 1;
} finally {
  await close();
}
