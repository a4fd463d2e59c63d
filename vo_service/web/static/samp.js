// "Send to TOPCAT / Aladin": a small SAMP Web Profile client (SAMP 1.3 §5). It registers with the
// hub on this computer (http://localhost:21012/, XML-RPC), which asks the user to accept, then
// broadcasts the file's URL (table.load.votable or image.load.fits) to every subscribed tool.
(function () {
  "use strict";
  const HUB = "http://localhost:21012/";
  const box = document.getElementById("samp");
  const data = document.getElementById("samp-data");
  if (!box || !data) return;
  const messages = JSON.parse(data.textContent);
  const status = document.getElementById("samp-status");

  function esc(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }
  function value(v) {
    if (Array.isArray(v)) return "<value><array><data>" + v.map(value).join("") + "</data></array></value>";
    if (v !== null && typeof v === "object") {
      return "<value><struct>" + Object.keys(v).map(function (k) {
        return "<member><name>" + esc(k) + "</name>" + value(v[k]) + "</member>";
      }).join("") + "</struct></value>";
    }
    return "<value><string>" + esc(v) + "</string></value>";
  }
  function parse(node) {
    const child = node.firstElementChild;
    if (!child) return node.textContent;
    if (child.tagName === "struct") {
      const out = {};
      Array.from(child.children).forEach(function (m) {
        out[m.querySelector("name").textContent] = parse(m.querySelector("value"));
      });
      return out;
    }
    if (child.tagName === "array") {
      return Array.from(child.firstElementChild.children).map(parse);
    }
    return child.textContent;
  }
  function call(method, params) {
    const body = '<?xml version="1.0"?><methodCall><methodName>' + method +
      "</methodName><params>" + params.map(function (p) { return "<param>" + value(p) + "</param>"; }).join("") +
      "</params></methodCall>";
    return fetch(HUB, { method: "POST", headers: { "Content-Type": "text/xml" }, body: body })
      .then(function (r) { return r.text(); })
      .then(function (text) {
        const doc = new DOMParser().parseFromString(text, "text/xml");
        const fault = doc.querySelector("fault > value");
        if (fault) throw new Error(parse(fault).faultString || "the hub refused");
        const result = doc.querySelector("params > param > value");
        return result ? parse(result) : null;
      });
  }

  function send(message) {
    status.textContent = "Asking the SAMP hub (accept the request in its window)…";
    let key = null;
    return call("samp.webhub.register", [{ "samp.name": document.title }])
      .then(function (info) {
        key = info["samp.private-key"];
        return call("samp.webhub.declareMetadata", [key, {
          "samp.name": "ISGRI products (web)",
          "samp.description.text": "Products of the coded-mask archive service",
        }]);
      })
      .then(function () {
        return call("samp.webhub.notifyAll", [key, {
          "samp.mtype": message.mtype,
          "samp.params": { url: message.url, name: message.name },
        }]);
      })
      .then(function (recipients) {
        const n = Array.isArray(recipients) ? recipients.length : 0;
        status.textContent = "Sent " + message.name + " to " + n + " tool" + (n === 1 ? "" : "s") + ".";
        box.dataset.sent = String((parseInt(box.dataset.sent || "0", 10)) + 1);
      })
      .catch(function (err) {
        status.textContent = "No SAMP hub answered (start TOPCAT or Aladin Desktop first): " + err.message;
      })
      .finally(function () {
        if (key) call("samp.webhub.unregister", [key]).catch(function () {});
      });
  }

  box.querySelectorAll("button.samp-send").forEach(function (button) {
    button.addEventListener("click", function () { send(messages[parseInt(button.dataset.index, 10)]); });
  });
})();
