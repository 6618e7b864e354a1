// Pre-join: camera preview, microphone level, device choice, consent. Nothing is sent
// anywhere until the person presses Join.
import { withConsent } from "/static/consent.js";
import { askLocation, confirmLocation } from "/static/location.js";
const $ = (id) => document.getElementById(id);

export const CONSENT_VERSION = "2026-11";
export const CONSENT_TEXT =
  "This session happens by video over the internet. It is not recorded. Your therapist " +
  "keeps notes as in any session. You may turn your camera or microphone off, or leave, " +
  "at any time. If you are in danger, call your local emergency number.";

let stream = null;
let meterStop = null;

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
  const fill = (select, kind) => {
    const chosen = select.value;
    select.replaceChildren(...devices.filter((d) => d.kind === kind).map((d, i) => {
      const o = document.createElement("option");
      o.value = d.deviceId;
      o.textContent = d.label || `${kind.replace("input", " input").replace("output", " output")} ${i + 1}`;
      return o;
    }));
    if (chosen) select.value = chosen;
    if (!select.options.length) {
      const o = document.createElement("option");
      o.textContent = "None found";
      o.value = "";
      select.append(o);
    }
  };
  fill($("pj-cam"), "videoinput");
  fill($("pj-mic"), "audioinput");
  fill($("pj-spk"), "audiooutput");
}

function startMeter(audioTrack) {
  if (meterStop) meterStop();
  if (!audioTrack) return;
  const ctx = new AudioContext();
  const src = ctx.createMediaStreamSource(new MediaStream([audioTrack]));
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  src.connect(analyser);
  const data = new Uint8Array(analyser.fftSize);
  const bar = $("pj-meter").querySelector("span");
  const timer = setInterval(() => {
    analyser.getByteTimeDomainData(data);
    let peak = 0;
    for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
    const level = Math.min(100, Math.round((peak / 128) * 200));
    bar.style.width = `${level}%`;
    $("pj-meter").setAttribute("aria-valuenow", String(level));
  }, 100);
  meterStop = () => { clearInterval(timer); ctx.close(); };
}

function explain(err) {
  const help = $("pj-help");
  if (!err) { help.textContent = ""; return; }
  if (err.name === "NotAllowedError") {
    help.textContent = "Your browser blocked the camera or microphone. Allow access in the " +
      "address bar (the camera icon), then reload. You can also join with both off.";
  } else if (err.name === "NotFoundError" || err.name === "OverconstrainedError") {
    help.textContent = "No camera or microphone was found. You can still join and listen, " +
      "or plug one in and reload.";
  } else {
    help.textContent = "Your camera or microphone could not start. Close other apps using " +
      "it, or join with it off.";
  }
}

// Device acquisition is one state machine: every change of a box or a device starts a
// request with a new generation; a request that finishes after a newer one started is
// discarded (its tracks stopped), so the latest request always wins. The boxes stay the
// only truth: at Join, tracks they turned off are dropped whatever the devices did.
let generation = 0;
let latest = Promise.resolve(null);
let joined = false; // after Join the stream belongs to the session, not to this page

function wanted() {
  return { camera: !$("pj-camoff").checked, mic: !$("pj-micoff").checked };
}

function stopTracks(s, keep = null) {
  if (!s) return;
  for (const t of s.getTracks()) if (!keep || !keep.includes(t)) t.stop();
}

async function acquire(gen, want) {
  const constraints = {
    audio: want.mic ? { deviceId: $("pj-mic").value ? { exact: $("pj-mic").value } : undefined,
                        echoCancellation: true, noiseSuppression: true } : false,
    video: want.camera ? { deviceId: $("pj-cam").value ? { exact: $("pj-cam").value } : undefined,
                           width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } } : false,
  };
  let next = new MediaStream();
  let error = null;
  try {
    if (constraints.audio || constraints.video) next = await navigator.mediaDevices.getUserMedia(constraints);
  } catch (err) {
    error = err;
  }
  if (gen !== generation || joined) { stopTracks(next); return null; } // a newer request won
  explain(error);
  stopTracks(stream, next.getTracks());
  stream = next;
  $("pj-video").srcObject = stream;
  $("pj-camera-off").hidden = stream.getVideoTracks().length > 0;
  startMeter(stream.getAudioTracks()[0]);
  await listDevices();
  return stream;
}

export function openDevices() {
  if (joined) return Promise.resolve(stream);
  const gen = ++generation;
  const want = wanted();
  // Turning something off takes effect at once, before any device answers.
  if (stream) {
    for (const t of stream.getTracks()) {
      if ((t.kind === "audio" && !want.mic) || (t.kind === "video" && !want.camera)) {
        t.stop();
        stream.removeTrack(t);
      }
    }
  }
  latest = acquire(gen, want);
  return latest;
}

// What Join publishes: the latest request's tracks, minus anything a box turned off.
async function chosen() {
  for (let i = 0; i < 20; i++) {
    const gen = generation;
    await latest.catch(() => null);
    if (gen === generation) break;
  }
  const want = wanted();
  const out = new MediaStream();
  for (const t of (stream ? stream.getTracks() : [])) {
    const on = t.kind === "audio" ? want.mic : want.camera;
    if (on && t.readyState === "live") out.addTrack(t);
    else t.stop();
  }
  stream = out;
  return out;
}

export function setupPrejoin(name, onJoin) {
  onJoin = withConsent(onJoin);
  askLocation(); // shown only when the clinic asks where each client is
  $("pj-name").textContent = name;
  $("consent-text").textContent = CONSENT_TEXT;
  $("consent-version").textContent = `(version ${CONSENT_VERSION})`;
  for (const id of ["pj-cam", "pj-mic", "pj-camoff", "pj-micoff"]) {
    $(id).addEventListener("change", openDevices);
  }
  $("pj-consent").addEventListener("change", (e) => { $("pj-join").disabled = !e.target.checked; });
  $("pj-join").addEventListener("click", async () => {
    performance.mark("hearth:join-click");
    $("pj-join").disabled = true;
    if (!(await confirmLocation())) { $("pj-join").disabled = false; return; }
    const media = await chosen();
    joined = true;
    generation++; // nothing started before Join may change what is published
    if (meterStop) { meterStop(); meterStop = null; }
    onJoin({
      stream: media,
      consentVersion: CONSENT_VERSION,
      cameraOn: media.getVideoTracks().length > 0,
      micOn: media.getAudioTracks().length > 0,
      speakerId: $("pj-spk").value || null,
    });
  });
  return openDevices();
}
