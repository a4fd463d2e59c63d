// The product page, progressively: a sortable source table linked to the sky view (Aladin Lite
// showing the product's own significance map and catalog, no remote survey), and interactive
// plots of spectra and light curves (Plotly). Libraries come from the service (/web/vendor).
// State for people and tests: #aladin[data-state], [data-catalog-count]; #plots[data-rendered].

function sortable(table) {
  const heads = Array.from(table.querySelectorAll("thead th"));
  heads.forEach((th, column) => {
    th.tabIndex = 0;
    const sort = () => {
      const ascending = th.getAttribute("aria-sort") !== "ascending";
      heads.forEach((h) => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      const numeric = th.dataset.type === "number";
      const body = table.tBodies[0];
      const rows = Array.from(body.rows);
      const key = (row) => {
        const text = row.cells[column].textContent.trim();
        return numeric ? parseFloat(text) : text.toLowerCase();
      };
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      });
      rows.forEach((row) => body.appendChild(row));
    };
    th.addEventListener("click", sort);
    th.addEventListener("keydown", (e) => { if (e.key === "Enter") sort(); });
  });
}

function selectRow(ra, dec) {
  document.querySelectorAll("#sources tbody tr").forEach((row) => {
    const hit = Math.abs(parseFloat(row.dataset.ra) - ra) < 1e-6 &&
      Math.abs(parseFloat(row.dataset.dec) - dec) < 1e-6;
    row.classList.toggle("selected", hit);
  });
}

async function skyView(holder) {
  const status = document.getElementById("sky-status");
  const fail = (what) => {
    holder.dataset.state = "error";
    if (status) status.textContent = "The sky view could not be shown: " + what;
  };
  try {
    const A = (await import(holder.dataset.lib)).default;
    await A.init;
    const ra = parseFloat(holder.dataset.ra), dec = parseFloat(holder.dataset.dec);
    const image = A.image(holder.dataset.fits, {
      name: "significance",
      colormap: "viridis",
      successCallback: () => {
        // Significance in σ: the noise dark, sources from 5σ up bright.
        image.setCuts(-3, 15);
        holder.dataset.image = "loaded";
      },
      errorCallback: () => fail("the image did not load"),
    });
    const aladin = A.aladin(holder, {
      survey: image,
      hipsList: [],
      target: ra + " " + dec,
      fov: parseFloat(holder.dataset.fov),
      cooFrame: "ICRS",
      projection: "TAN",
      log: false,
      samp: false,
      showLayersControl: false,
      showSimbadPointerControl: false,
      showShareControl: false,
      showSettingsControl: false,
      showProjectionControl: false,
      showContextMenu: false,
      showReticle: false,
    });
    window.productSky = aladin;
    if (holder.dataset.catalog) {
      const catalog = A.catalogFromURL(
        holder.dataset.catalog,
        { name: "sources", sourceSize: 16, color: "#ff5a5f", shape: "circle", onClick: "showPopup" },
        (catalog) => {
          holder.dataset.catalogCount = String(catalog.getSources().length);
          holder.dataset.state = "ready";
        },
        // Aladin also reports the VOTable's DataLink service block (a RESOURCE without a
        // table) as a failure: only a catalog that never loaded is one.
        () => { if (!holder.dataset.catalogCount) fail("the catalog did not load"); },
        false,  // never through a remote proxy
      );
      aladin.addCatalog(catalog);
      aladin.on("objectClicked", (source) => { if (source) selectRow(source.ra, source.dec); });
    } else {
      holder.dataset.state = "ready";
    }
    document.querySelectorAll("#sources a.goto").forEach((link) => {
      link.addEventListener("click", () => {
        const row = link.closest("tr");
        const r = parseFloat(row.dataset.ra), d = parseFloat(row.dataset.dec);
        aladin.gotoRaDec(r, d);
        selectRow(r, d);
      });
    });
  } catch (err) {
    fail(String(err));
  }
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error("cannot load " + src));
    document.head.appendChild(script);
  });
}

function spectrumPlot(Plotly, box, s) {
  const traces = [{
    x: s.energy, y: s.rate, type: "scatter", mode: "markers", name: "data",
    error_x: { type: "data", symmetric: false, array: s.energy_hi, arrayminus: s.energy_lo, thickness: 1, width: 0 },
    error_y: { type: "data", array: s.error, thickness: 1, width: 0 },
    marker: { size: 4 },
  }];
  const layout = {
    title: { text: s.source + (s.fit ? " — " + s.fit : "") },
    xaxis: { type: "log", title: { text: "energy (keV)" }, anchor: s.model ? "y2" : "y" },
    yaxis: { title: { text: "rate (ct/s)" }, domain: s.model ? [0.32, 1] : [0, 1] },
    margin: { t: 40, r: 10, l: 60, b: 50 }, showlegend: !!s.model, legend: { x: 1, xanchor: "right" },
  };
  if (s.model) {
    traces.push({ x: s.energy, y: s.model, type: "scatter", mode: "lines", name: "model", line: { shape: "hvh" } });
    traces.push({
      x: s.energy, y: s.residual, type: "scatter", mode: "markers", name: "residuals (σ)",
      xaxis: "x", yaxis: "y2", marker: { size: 4 }, error_y: { type: "constant", value: 1, thickness: 1, width: 0 },
    });
    layout.yaxis2 = { domain: [0, 0.25], title: { text: "(data − model)/σ" }, zeroline: true };
  }
  return Plotly.newPlot(box, traces, layout, { responsive: true, displaylogo: false });
}

function lightCurvePlot(Plotly, box, lc) {
  const traces = [{
    x: lc.time, y: lc.rate, type: "scatter", mode: "markers", name: "rate",
    error_x: { type: "data", array: lc.halfwidth, thickness: 1, width: 0 },
    error_y: { type: "data", array: lc.error, thickness: 1, width: 0 }, marker: { size: 4 },
  }];
  if (lc.blocks) {
    const x = [], y = [];
    lc.blocks.forEach((b) => { x.push(b.start, b.stop, null); y.push(b.rate, b.rate, null); });
    traces.push({ x: x, y: y, type: "scatter", mode: "lines", name: "Bayesian blocks", line: { width: 3 } });
  }
  const layout = {
    title: { text: lc.source + " " + lc.band },
    xaxis: { title: { text: "time (MJD, TT)" }, tickformat: ".4f", exponentformat: "none" },
    yaxis: { title: { text: "rate (ct/s)" } },
    margin: { t: 40, r: 10, l: 60, b: 50 }, legend: { x: 1, xanchor: "right" },
  };
  return Plotly.newPlot(box, traces, layout, { responsive: true, displaylogo: false });
}

async function plots(holder) {
  const data = JSON.parse(document.getElementById("plot-data").textContent);
  try {
    await loadScript(holder.dataset.lib);
    const jobs = [];
    const add = (draw, item) => {
      const box = document.createElement("div");
      box.className = "plot";
      holder.appendChild(box);
      jobs.push(draw(window.Plotly, box, item));
    };
    data.spectra.forEach((s) => add(spectrumPlot, s));
    data.light_curves.forEach((lc) => add(lightCurvePlot, lc));
    await Promise.all(jobs);
    holder.dataset.rendered = String(jobs.length);
  } catch (err) {
    holder.dataset.rendered = "error";
    holder.textContent = "The plots could not be drawn: " + err;
  }
}

const table = document.getElementById("sources");
if (table) sortable(table);
// The libraries (MBs of JavaScript and WebAssembly) load after the page itself: the page is
// readable at once and the sky view and plots follow.
function drawAll() {
  const sky = document.getElementById("aladin");
  if (sky) skyView(sky);
  const plotHolder = document.getElementById("plots");
  if (plotHolder) plots(plotHolder);
}
if (document.readyState === "complete") drawAll();
else window.addEventListener("load", () => setTimeout(drawAll, 0));
