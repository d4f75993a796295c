// What both browser walks (seed-walk.mjs, troubleshoot-walk.mjs) share: their environment, the
// replies of spec §3 (English on the wire in every language), RFC 6238 TOTP computed from the
// secret an enrolment page shows, the device (swaks over STARTTLS), and a headless Chromium.

import { chromium } from "playwright-core";
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`missing environment variable ${name}`);
  return v;
};

export const TENANT = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.";
export const SECURITY_DEFAULTS =
  "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator.";
export const MFA =
  "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator.";

function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0, value = 0;
  const out = [];
  for (const c of text.replace(/[\s=]/g, "").toUpperCase()) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`not base32: ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function totp(secret, unix = Math.floor(Date.now() / 1000)) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unix / 30)));
  const h = crypto.createHmac("sha1", base32Decode(secret)).update(counter).digest();
  const o = h[h.length - 1] & 0x0f;
  const bin = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(bin % 1_000_000).padStart(6, "0");
}

// The device: one message (or only up to AUTH) over STARTTLS with AUTH LOGIN.
export function swaks({ port, user, password, subject, quitAfterAuth }) {
  const args = [
    "--server", `127.0.0.1:${port}`, "--tls", "--auth", "LOGIN",
    "--auth-user", user, "--auth-password", password,
    "--from", user, "--to", "frontdesk@example.net",
    "--header", `Subject: ${subject}`, "--body", "Your scan is attached.", "--timeout", "20",
  ];
  if (quitAfterAuth) args.push("--quit-after", "AUTH");
  const run = spawnSync("swaks", args, { encoding: "utf8", timeout: 60_000 });
  if (run.error) throw run.error;
  return run.stdout + run.stderr;
}

// A headless Chromium with a throwaway profile. Korean comes from Accept-Language (the
// browser's locale); English and Indonesian start from an English browser. `problems` collects
// script errors of the pages; `close` ends the browser and removes the profile.
export async function launch(executablePath, lang) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "authrelay-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
    locale: lang === "ko" ? "ko-KR" : "en-US",
    viewport: { width: 1360, height: 900 },
  });
  context.setDefaultTimeout(15_000);
  const page = context.pages()[0] ?? (await context.newPage());
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  const close = async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, problems, close };
}

// Issue 19: a page in Korean or Indonesian shows no English setting value (a whole cell or
// value reading "on", "enabled" …), no raw message id and no RFC 3339 timestamp outside code;
// Korean table cells break between words only (word-break: keep-all). Returns what it found.
export async function localizationLeaks(page, lang) {
  if (lang === "en") return [];
  return await page.evaluate((lang) => {
    const english = new Set(["on", "off", "enabled", "disabled", "allowed", "blocked", "default", "enforced",
      "password", "app-password", "device-credential", "accepted", "security-defaults", "authenticated-smtp", "mfa"]);
    const rawId = /\b(value|cred|action|web-check|source|role|period|lang|ts-provider|secret-once|doctor-check|queue-state)-[a-z0-9-]+\b/;
    const rfc3339 = /\b\d{4}-\d\d-\d\dT\d\d:\d\d/;
    const found = [];
    const outsideCode = (el) => !el.closest("code, pre, .ts-commands, .reply, .secret, script, style");
    for (const el of document.querySelectorAll("main td, main dd, main th, main option, main span, main p, main label, main h1, main h2")) {
      if (!outsideCode(el)) continue;
      const own = Array.from(el.childNodes).filter((n) => n.nodeType === 3).map((n) => n.textContent).join(" ").trim();
      if (!own) continue;
      if (english.has(own.toLowerCase()) && !(lang === "id" && own.toLowerCase() === "default")) found.push(`English value "${own}" in <${el.tagName.toLowerCase()}>`);
      if (rawId.test(own)) found.push(`raw id in "${own}"`);
      if (rfc3339.test(own)) found.push(`RFC 3339 time in "${own}"`);
    }
    if (lang === "ko") {
      for (const td of document.querySelectorAll("main td")) {
        if (getComputedStyle(td).wordBreak !== "keep-all") { found.push("a Korean table cell may break inside a word"); break; }
      }
    }
    for (const td of document.querySelectorAll("main td.when")) {
      if (getComputedStyle(td).whiteSpace !== "nowrap") { found.push("a time cell may wrap"); break; }
    }
    return found;
  }, lang);
}
