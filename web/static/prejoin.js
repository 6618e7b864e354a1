// Pre-join: camera preview, microphone level, device choice, consent. Nothing is sent
// anywhere until the person presses Join.
import { withConsent } from "/static/consent.js";
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

export async function openDevices() {
  const camOff = $("pj-camoff").checked;
  const micOff = $("pj-micoff").checked;
  if (stream) for (const t of stream.getTracks()) t.stop();
  stream = new MediaStream();
  const constraints = {
    audio: micOff ? false : { deviceId: $("pj-mic").value ? { exact: $("pj-mic").value } : undefined,
                              echoCancellation: true, noiseSuppression: true },
    video: camOff ? false : { deviceId: $("pj-cam").value ? { exact: $("pj-cam").value } : undefined,
                              width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } },
  };
  try {
    if (constraints.audio || constraints.video) stream = await navigator.mediaDevices.getUserMedia(constraints);
    explain(null);
  } catch (err) {
    explain(err);
  }
  $("pj-video").srcObject = stream;
  $("pj-camera-off").hidden = stream.getVideoTracks().length > 0;
  startMeter(stream.getAudioTracks()[0]);
  await listDevices();
  return stream;
}

export function setupPrejoin(name, onJoin) {
  onJoin = withConsent(onJoin);
  $("pj-name").textContent = name;
  $("consent-text").textContent = CONSENT_TEXT;
  $("consent-version").textContent = `(version ${CONSENT_VERSION})`;
  for (const id of ["pj-cam", "pj-mic", "pj-camoff", "pj-micoff"]) {
    $(id).addEventListener("change", openDevices);
  }
  $("pj-consent").addEventListener("change", (e) => { $("pj-join").disabled = !e.target.checked; });
  $("pj-join").addEventListener("click", () => {
    performance.mark("hearth:join-click");
    if (meterStop) { meterStop(); meterStop = null; }
    onJoin({
      stream,
      consentVersion: CONSENT_VERSION,
      cameraOn: stream.getVideoTracks().length > 0,
      micOn: stream.getAudioTracks().length > 0,
      speakerId: $("pj-spk").value || null,
    });
  });
  return openDevices();
}
