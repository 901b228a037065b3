// The maps page: flight tracks over Natural Earth land, drawn by Leaflet on canvas.
// Reads two JSON blocks of the page (tracks, land); fetches nothing.
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("maps-data").textContent);
  var LAND = JSON.parse(document.getElementById("maps-land").textContent);
  var PALETTE = ["#440154", "#46327e", "#365c8d", "#277f8e", "#1fa187", "#4ac16d", "#a0da39", "#fde725"];
  var NO_SPEED = "#9a9a9a";

  function column(name, Type) {
    var text = atob(DATA.columns[name]);
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return new Type(bytes.buffer);
  }
  var lat = column("lat", Float32Array), lon = column("lon", Float32Array);
  var time = column("time", Float64Array), speed = column("speed", Float32Array), piece = column("piece", Float32Array), alt = column("alt", Float32Array);

  function colourOf(v) {
    if (!isFinite(v) || !DATA.speed) return NO_SPEED;
    var span = DATA.speed.max - DATA.speed.min;
    var k = span > 0 ? Math.floor((v - DATA.speed.min) / span * PALETTE.length) : 0;
    return PALETTE[Math.max(0, Math.min(PALETTE.length - 1, k))];
  }
  function number(v, digits) {
    return isFinite(v) ? v.toLocaleString("en-US", {minimumFractionDigits: digits, maximumFractionDigits: digits}) : "unknown";
  }
  function when(t) {
    return isFinite(t) ? new Date(t * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC") : "unknown";
  }
  function line(parent, label, value) {
    var row = document.createElement("div");
    var name = document.createElement("b");
    name.textContent = label + " ";
    row.appendChild(name);
    row.appendChild(document.createTextNode(value));
    parent.appendChild(row);
  }

  var map = L.map("map", {preferCanvas: true, worldCopyJump: false, minZoom: 1, zoomSnap: 0.5});
  map.attributionControl.setPrefix("Leaflet " + L.version);
  map.attributionControl.addAttribution("land: Natural Earth (public domain)");
  map.createPane("land").style.zIndex = 350;
  // One layer per land polygon: Leaflet skips clipping and drawing those out of view.
  var landPolygons = LAND.geometry.coordinates.map(function (rings) {
    return {type: "Feature", properties: {}, geometry: {type: "Polygon", coordinates: rings}};
  });
  L.geoJSON({type: "FeatureCollection", features: landPolygons}, {
    renderer: L.canvas({pane: "land", padding: 0.2}),
    interactive: false,
    style: {color: "#b9b3a5", weight: 0.6, fillColor: "#f1eee6", fillOpacity: 1, smoothFactor: 2},
  }).addTo(map);

  var renderer = L.canvas({padding: 0.2, tolerance: 6});
  var tooltip = L.tooltip({direction: "top", offset: [0, -8], className: "maps-tooltip"});

  function nearest(first, last, latlng) {
    var target = map.latLngToContainerPoint(latlng), best = first, bestD = Infinity;
    for (var i = first; i <= last; i++) {
      var p = map.latLngToContainerPoint([lat[i], lon[i]]);
      var d = (p.x - target.x) * (p.x - target.x) + (p.y - target.y) * (p.y - target.y);
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  }
  function showFix(flight, i) {
    var box = document.createElement("div");
    line(box, "aircraft", flight.aircraft);
    line(box, "flight", flight.flight);
    line(box, "time", when(time[i]));
    line(box, "speed", number(speed[i], 1) + " m/s");
    line(box, "altitude", number(alt[i], 0) + " m");
    tooltip.setLatLng([lat[i], lon[i]]).setContent(box);
    if (!map.hasLayer(tooltip)) tooltip.addTo(map);
  }

  // One layer group per flight; its polylines are its runs of one colour.
  var tracks = DATA.flights.map(function (flight) {
    var lines = [];
    var ends = flight.segments.concat([flight.first + flight.count]);
    for (var s = 0; s < flight.segments.length; s++) {
      var start = flight.segments[s], stop = ends[s + 1] - 1, i = start;
      if (stop === start) {
        lines.push(L.circleMarker([lat[start], lon[start]], {renderer: renderer, radius: 2, weight: 1, color: colourOf(piece[start]), first: start, last: start}));
        continue;
      }
      while (i < stop) {
        var colour = colourOf(piece[i + 1]), j = i + 1;
        while (j < stop && colourOf(piece[j + 1]) === colour) j++;
        var points = [];
        for (var k = i; k <= j; k++) points.push([lat[k], lon[k]]);
        lines.push(L.polyline(points, {renderer: renderer, color: colour, weight: 2.5, opacity: 0.9, first: i, last: j}));
        i = j;
      }
    }
    var group = L.featureGroup(lines);
    group.on("mousemove mouseover", function (e) {
      showFix(flight, nearest(e.layer.options.first, e.layer.options.last, e.latlng));
    });
    group.on("mouseout", function () { map.removeLayer(tooltip); });
    return {aircraft: flight.aircraft, flight: flight.flight, count: flight.count, group: group};
  });

  var stats = document.getElementById("stats");
  function showing() {
    var shown = 0;
    tracks.forEach(function (t) { if (map.hasLayer(t.group)) shown += t.count; });
    stats.textContent = "Points shown: " + number(shown, 0) + " of " + number(DATA.total, 0) + " fixes";
    return shown;
  }

  // The legend: the speed range of every fix of the run, not only of those drawn.
  var legend = L.control({position: "bottomright"});
  legend.onAdd = function () {
    var box = L.DomUtil.create("div", "maps-legend");
    var title = document.createElement("div");
    title.textContent = "speed (m/s)";
    box.appendChild(title);
    var bar = document.createElement("div");
    bar.className = "maps-bar";
    bar.style.background = "linear-gradient(to right, " + PALETTE.join(", ") + ")";
    box.appendChild(bar);
    var ticks = document.createElement("div");
    ticks.className = "maps-ticks";
    [DATA.speed ? DATA.speed.min : NaN, DATA.speed ? DATA.speed.max : NaN].forEach(function (v) {
      var tick = document.createElement("span");
      tick.textContent = number(v, 0);
      ticks.appendChild(tick);
    });
    box.appendChild(ticks);
    var none = document.createElement("div");
    var swatch = document.createElement("i");
    swatch.className = "maps-swatch";
    swatch.style.background = NO_SPEED;
    none.appendChild(swatch);
    none.appendChild(document.createTextNode("no speed"));
    box.appendChild(none);
    return box;
  };
  legend.addTo(map);

  // The aircraft filter: one checkbox per aircraft, for all its flights.
  var filter = L.control({position: "topright"});
  filter.onAdd = function () {
    var box = L.DomUtil.create("div", "maps-filter");
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    var title = document.createElement("div");
    title.textContent = "aircraft";
    title.className = "maps-filter-title";
    box.appendChild(title);
    var names = [];
    tracks.forEach(function (t) { if (names.indexOf(t.aircraft) < 0) names.push(t.aircraft); });
    names.sort();
    names.forEach(function (name) {
      var label = document.createElement("label");
      var box2 = document.createElement("input");
      box2.type = "checkbox";
      box2.checked = true;
      box2.dataset.aircraft = name;
      box2.addEventListener("change", function () { setAircraft(name, box2.checked); });
      label.appendChild(box2);
      label.appendChild(document.createTextNode(" " + name));
      box.appendChild(label);
    });
    return box;
  };
  filter.addTo(map);

  function setAircraft(name, on) {
    tracks.forEach(function (t) {
      if (t.aircraft !== name) return;
      if (on) t.group.addTo(map); else map.removeLayer(t.group);
    });
    map.removeLayer(tooltip);
    showing();
  }

  var bounds = L.latLngBounds([]);
  tracks.forEach(function (t) { t.group.addTo(map); bounds.extend(t.group.getBounds()); });
  if (bounds.isValid()) map.fitBounds(bounds, {padding: [20, 20]}); else map.setView([20, 0], 2);
  showing();
  window.agilabMaps = {map: map, tracks: tracks, lat: lat, lon: lon, speed: speed, showing: showing, setAircraft: setAircraft};
  // drawn: after the frame that paints the canvases (drawnAt: milliseconds since navigation started)
  requestAnimationFrame(function () {
    requestAnimationFrame(function () {
      window.agilabMaps.drawnAt = performance.now();
      document.body.dataset.drawn = "1";
    });
  });
})();
