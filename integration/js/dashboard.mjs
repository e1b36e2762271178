// dashboard.mjs drives the admin dashboard in the system Chromium with
// playwright-core (no browser download) for integration/dashboard_test.go.
// It prints one JSON event per line and reads nothing: the Go test acts
// (connects an MQTT client, publishes to a queue) when it sees "ready",
// and this script waits for the page to show the result.
//
// usage: node dashboard.mjs DASHBOARD_URL CLIENT_ID QUEUE TRY_ADDRESS SCREENSHOT_PATH USER_DATA_DIR
import { chromium } from "playwright-core";

const [url, clientId, queue, tryAddress, shot, userDataDir] = process.argv.slice(2);
const emit = (event, extra = {}) => console.log(JSON.stringify({ event, ...extra }));

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1280, height: 1000 },
});
const timeout = 20000;
try {
  const page = context.pages()[0] || await context.newPage();
  page.on("pageerror", (e) => emit("pageerror", { body: String(e) }));
  await page.goto(url);
  await page.waitForSelector("#status.ok", { timeout });
  emit("ready");

  // The Go test connects an MQTT client: its row appears.
  await page.waitForFunction((id) => [...document.querySelectorAll("#conns tbody tr")]
    .some((tr) => tr.cells.length > 2 && tr.cells[2].textContent === id), clientId, { timeout });
  emit("connection");

  // The Go test publishes to the queue: its depth goes up to 3.
  await page.waitForFunction((q) => [...document.querySelectorAll("#queues tbody tr")]
    .some((tr) => tr.cells[0].textContent === q && tr.cells[1].textContent === "3"), queue, { timeout });
  emit("depth", { body: "3" });

  // The chart has one line per protocol once there are two samples.
  await page.waitForSelector("#chart polyline[data-protocol=mqtt]", { timeout, state: "attached" });

  // Try it: publish from the panel.
  await page.fill("#try-address", tryAddress);
  await page.fill("#try-body", '{"from":"the dashboard"}');
  await page.fill("#try-type", "application/json");
  await page.click("#try-send");
  await page.waitForFunction(() => document.querySelector("#try-result").textContent.includes("\"queues\""), null, { timeout });
  emit("published", { body: await page.textContent("#try-result") });
  // What each bound receiver gets, through POST /api/v1/explain.
  await page.waitForFunction(() => document.querySelectorAll("#try-receivers tbody tr td:not(.empty)").length >= 12, null, { timeout })
    .catch(async (e) => {
      const consumers = await page.evaluate(async () => (await fetch("/api/v1/consumers")).text());
      throw new Error(e.message + " receivers: " + await page.textContent("#try-receivers tbody") + " consumers: " + consumers);
    });
  emit("receivers", { body: await page.textContent("#try-receivers tbody") });

  // The queue page shows the messages without consuming them.
  await page.click(`#queues a[href="#/queue/${encodeURIComponent(queue)}"]`);
  await page.waitForFunction(() => document.querySelectorAll("#q-messages tbody tr td.body").length === 3, null, { timeout });
  emit("queue-page");

  await page.goto(url);
  await page.waitForSelector("#status.ok", { timeout });
  await page.screenshot({ path: shot, fullPage: true });
  emit("screenshot", { body: shot });
} catch (e) {
  emit("error", { body: String(e && e.stack || e) });
  process.exitCode = 1;
} finally {
  await context.close();
}
