// Location at pre-join: when the clinic asks, a client says where they are right now
// (free text plus a state or country) before joining. It is sent over REST with the
// page's own link and stored sealed; only the session's clinicians read it. The server
// refuses the knock without it, so this page only helps the person give it first.
const $ = (id) => document.getElementById(id);

async function call(method, body) {
  const session = new URLSearchParams(location.search).get("s") || "";
  const init = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(`/api/clinical/location?s=${encodeURIComponent(session)}`, init);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((data.error && data.error.message) || res.statusText);
  return data.ok;
}

let asked = null; // a promise: whether this person is asked

export function askLocation() {
  asked = call("GET").then((state) => {
    if (!state.asked) return false;
    $("pj-location").hidden = false;
    if (state.location) {
      $("pj-place").value = state.location.place;
      $("pj-region").value = state.location.region;
    }
    return true;
  }).catch(() => false);
  return asked;
}

// Save the location if asked; false (with the reason shown) when it cannot be.
export async function confirmLocation() {
  if (!asked || !(await asked)) return true;
  const place = $("pj-place").value.trim();
  const region = $("pj-region").value.trim();
  const help = $("pj-location-help");
  if (place.length < 2 || region.length < 2) {
    help.textContent = "Please say where you are and your state or country before joining.";
    (place.length < 2 ? $("pj-place") : $("pj-region")).focus();
    return false;
  }
  try {
    await call("PUT", { place, region });
    help.textContent = "";
    return true;
  } catch (err) {
    help.textContent = `Your location could not be saved: ${err.message}`;
    $("pj-place").focus();
    return false;
  }
}
