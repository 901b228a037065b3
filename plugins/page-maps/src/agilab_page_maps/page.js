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

  // Colour of each kept fix: the step drawn up to it takes the mean speed of the fixes it stands for.
  function colourIndex(v) {
    if (!isFinite(v) || !DATA.speed) return PALETTE.length;
    var span = DATA.speed.max - DATA.speed.min;
    var k = span > 0 ? Math.floor((v - DATA.speed.min) / span * PALETTE.length) : 0;
    return Math.max(0, Math.min(PALETTE.length - 1, k));
  }
  var COLOURS = PALETTE.concat([NO_SPEED]);
  var colour = new Uint8Array(piece.length);
  for (var c = 0; c < piece.length; c++) colour[c] = colourIndex(piece[c]);

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
  // Land: 1:110m when zoomed out, 1:50m from LAND_DETAIL_ZOOM in; one layer per polygon, so
  // Leaflet skips clipping and drawing those out of view.
  var LAND_DETAIL_ZOOM = 4;
  var landRenderer = L.canvas({pane: "land", padding: 0.2});
  function landLayer(land) {
    return L.geoJSON({type: "FeatureCollection", features: land.geometry.coordinates.map(function (rings) {
      return {type: "Feature", properties: {}, geometry: {type: "Polygon", coordinates: rings}};
    })}, {
      renderer: landRenderer,
      interactive: false,
      style: {color: "#b9b3a5", weight: 0.6, fillColor: "#f1eee6", fillOpacity: 1, smoothFactor: 1.5},
    });
  }
  var landDetail = landLayer(LAND), landCoarse = landLayer(JSON.parse(document.getElementById("maps-land-coarse").textContent));
  function pickLand() {
    var detail = map.getZoom() >= LAND_DETAIL_ZOOM;
    var show = detail ? landDetail : landCoarse, hide = detail ? landCoarse : landDetail;
    if (map.hasLayer(hide)) map.removeLayer(hide);
    if (!map.hasLayer(show)) show.addTo(map);
  }
  map.on("zoomend", pickLand);

  // A flight is one Leaflet path: its parts are its segments, each step stroked in its speed colour
  // (one canvas path per colour). Parts are kept whole (not clipped nor simplified), so point j of
  // part k is kept fix segments[k] + j, for the tooltip.
  var SpeedTrack = L.Polyline.extend({
    _update: function () {
      if (!this._map) return;
      this._parts = this._rings;
      this._updatePath();
    },
    _updatePath: function () {
      var renderer = this._renderer, parts = this._parts, segments = this.options.segments;
      if (!renderer._drawing || !parts.length) return;
      var paths = COLOURS.map(function () { return new Path2D(); });
      for (var k = 0; k < parts.length; k++) {
        var part = parts[k], first = segments[k], last = -1;
        if (part.length === 1) {
          var dot = paths[colour[first]];
          dot.moveTo(part[0].x, part[0].y);
          dot.lineTo(part[0].x + 0.01, part[0].y);
          continue;
        }
        var x = 0, y = 0;
        for (var j = 1; j < part.length; j++) {
          var c = colour[first + j], p = part[j];
          if (c !== last) {
            paths[c].moveTo(part[j - 1].x, part[j - 1].y);
          } else if (j < part.length - 1 && colour[first + j + 1] === c && (p.x - x) * (p.x - x) + (p.y - y) * (p.y - y) < 0.5) {
            continue;  // under a pixel from the last point drawn, in the same colour: nothing to see
          }
          paths[c].lineTo(p.x, p.y);
          x = p.x;
          y = p.y;
          last = c;
        }
      }
      var ctx = renderer._ctx;
      ctx.globalAlpha = this.options.opacity;
      ctx.lineWidth = this.options.weight;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      paths.forEach(function (path, c) { ctx.strokeStyle = COLOURS[c]; ctx.stroke(path); });
    },
    nearestFix: function (layerPoint) {
      var best = this.options.segments[0], bestD = Infinity;
      for (var k = 0; k < this._parts.length; k++) {
        for (var j = 0; j < this._parts[k].length; j++) {
          var p = this._parts[k][j], d = (p.x - layerPoint.x) * (p.x - layerPoint.x) + (p.y - layerPoint.y) * (p.y - layerPoint.y);
          if (d < bestD) { bestD = d; best = this.options.segments[k] + j; }
        }
      }
      return best;
    },
  });

  var renderer = L.canvas({padding: 0.2, tolerance: 6});
  var tooltip = L.tooltip({direction: "top", offset: [0, -8], className: "maps-tooltip"});

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

  var tracks = DATA.flights.map(function (flight) {
    var ends = flight.segments.concat([flight.first + flight.count]), parts = [];
    for (var s = 0; s < flight.segments.length; s++) {
      var part = [];
      for (var i = flight.segments[s]; i < ends[s + 1]; i++) part.push([lat[i], lon[i]]);
      parts.push(part);
    }
    var layer = new SpeedTrack(parts, {renderer: renderer, weight: 2.5, opacity: 0.9, segments: flight.segments});
    layer.on("mousemove mouseover", function (e) { showFix(flight, layer.nearestFix(e.layerPoint)); });
    layer.on("mouseout", function () { map.removeLayer(tooltip); });
    return {aircraft: flight.aircraft, flight: flight.flight, count: flight.count, layer: layer};
  });

  var stats = document.getElementById("stats");
  function showing() {
    var shown = 0;
    tracks.forEach(function (t) { if (map.hasLayer(t.layer)) shown += t.count; });
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
    var inputs = [];
    var all = document.createElement("div");
    all.className = "maps-filter-all";
    [["all", true], ["none", false]].forEach(function (choice) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = choice[0];
      button.addEventListener("click", function () {
        inputs.forEach(function (input) { input.checked = choice[1]; });
        names.forEach(function (name) { setAircraft(name, choice[1]); });
      });
      all.appendChild(button);
    });
    if (names.length > 1) box.appendChild(all);
    names.forEach(function (name) {
      var label = document.createElement("label");
      var box2 = document.createElement("input");
      box2.type = "checkbox";
      box2.checked = true;
      box2.dataset.aircraft = name;
      box2.addEventListener("change", function () { setAircraft(name, box2.checked); });
      inputs.push(box2);
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
      if (on) t.layer.addTo(map); else map.removeLayer(t.layer);
    });
    map.removeLayer(tooltip);
    showing();
  }

  var bounds = L.latLngBounds([]);
  tracks.forEach(function (t) { t.layer.addTo(map); bounds.extend(t.layer.getBounds()); });
  if (bounds.isValid()) map.fitBounds(bounds, {padding: [20, 20]}); else map.setView([20, 0], 2);
  pickLand();
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
