// The request form, progressively: fields a product type does not use are greyed out and not
// sent, and every change asks the server's own validator (POST /web/check) so that its message
// appears at the field and the sky preview follows the form before anything is submitted.
(function () {
  "use strict";
  const form = document.getElementById("request-form");
  if (!form) return;
  const typeSelect = form.elements.namedItem("product_type");

  function showUsage() {
    const chosen = typeSelect.value;
    form.querySelectorAll(".field[data-used-by]").forEach(function (field) {
      const users = field.dataset.usedBy.split(" ").filter(Boolean);
      const used = users.length === 0 || users.indexOf(chosen) >= 0;
      field.classList.toggle("unused", !used);
      field.querySelectorAll("input, select, textarea").forEach(function (el) { el.disabled = !used; });
    });
    document.querySelectorAll("#h-product_type span[data-for]").forEach(function (span) {
      span.classList.toggle("other", span.dataset.for !== chosen);
    });
  }

  function showError(name, message) {
    form.querySelectorAll(".field").forEach(function (field) {
      const mine = name !== null && field.dataset.field.toLowerCase() === name.toLowerCase();
      const box = field.querySelector(".field-error");
      field.classList.toggle("invalid", mine);
      if (box) {
        box.textContent = mine ? message : "";
        box.hidden = !mine;
      }
    });
  }

  let timer = null;
  let asked = 0;
  function check() {
    const number = ++asked;
    fetch(form.dataset.checkUrl, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (answer) {
        if (!answer || number !== asked) return;  // a later check is on its way
        showError(answer.field, answer.message);
        const preview = document.getElementById("preview");
        if (preview) {
          const holder = document.createElement("div");
          holder.innerHTML = answer.html;  // rendered by the server's template, values escaped
          const fresh = holder.querySelector("#preview");
          if (fresh) preview.replaceWith(fresh);
        }
      })
      .catch(function () { /* the server's answer on submit still says it */ });
  }
  function later() {
    clearTimeout(timer);
    timer = setTimeout(check, 350);
  }

  typeSelect.addEventListener("change", function () { showUsage(); later(); });
  // A name is resolved (perhaps by Sesame) once it is typed, not at every keystroke.
  form.addEventListener("input", function (event) {
    if (event.target.name !== "src_name") later();
  });
  form.addEventListener("change", later);
  showUsage();
})();
