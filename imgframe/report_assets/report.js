/* imgframe report: the inventory embedded in this page, filtered, charted and exported
   in the browser. No framework, no network. window.imgframe.select(query) is the one
   selection function; the controls call it too. Mirrors df.images.select and
   imgframe.to_csv (see imgframe/report.py for the data format). */
(function () {
  "use strict";

  // the status words' order and colours: imgframe/status.py's, written into the page
  var STATUSES = JSON.parse(document.getElementById("imgframe-report").getAttribute("data-statuses"));
  var STATUS_ORDER = STATUSES.order;
  var STATUS_COLORS = STATUSES.colors;
  // the usage verdicts' colours: imgframe/usage_plots.py's VERDICT_COLORS, written into the page
  var VERDICT_COLORS = JSON.parse(document.getElementById("imgframe-report").getAttribute("data-verdicts") || "{}");
  var TIME_COLUMNS = ["updated", "created"];
  var DEFAULT_TABLE = ["name", "status", "verdict", "kind", "updated", "visibility", "owner", "min_ram", "min_disk", "size", "reasons"];
  var FACETS = ["verdict", "kind", "visibility", "owner", "protected", "hidden", "disk_format", "container_format", "cloud", "region", "source", "change"];
  var PAGE = 50;
  var SIZE_COLUMNS = { size: 1, virtual_size: 1 };
  var UNIT_COLUMNS = { min_ram: "MB", min_disk: "GB" };
  var US = 1e6;

  // -- decoding ---------------------------------------------------------------------------

  function fromBase64(text) {
    if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(text);
    var bin = atob(text), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function readData() {
    var el = document.getElementById("imgframe-data");
    if (el.getAttribute("data-src")) return fetchJSON(el.getAttribute("data-src"));
    var text = el.textContent;
    if (el.getAttribute("data-encoding") !== "gzip+base64") return Promise.resolve(JSON.parse(text));
    var stream = new Blob([fromBase64(text)]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(JSON.parse);
  }

  /* the dashboard: the data and its status come from the page's own origin */
  function fetchJSON(url, options) {
    options = options || {};
    options.credentials = "same-origin";
    options.cache = "no-store";
    return fetch(url, options).then(function (r) {
      if (r.status === 401) { location.href = "login"; throw new Error("signed out: log in again"); }
      if (!r.ok) throw new Error("the dashboard answered " + r.status + " for " + url);
      return r.json();
    });
  }

  function numbers(values, n) {
    var out = new Float64Array(n);
    for (var i = 0; i < n; i++) { var v = values[i]; out[i] = v === null ? NaN : v; }
    return out;
  }

  function Column(spec, n, idColumn) {
    this.name = spec.name;
    this.kind = spec.kind;
    var i;
    if (spec.dict) {
      this.dict = spec.dict;
      this.codes = Int32Array.from(spec.codes);
    } else if (spec.categories) {
      this.dict = spec.categories;
      this.codes = Int32Array.from(spec.codes);
    } else if (spec.prefix !== undefined) {
      this.prefix = spec.prefix; this.suffix = spec.suffix; this.ids = idColumn;
      this.na = new Uint8Array(n);
      for (i = 0; i < spec.na.length; i++) this.na[spec.na[i]] = 1;
    } else if (this.kind === "string" || this.kind === "text") {
      this.values = spec.values;
    } else {
      this.num = numbers(spec.values, n);
      if (this.kind === "datetime" && spec.unit === "s") {
        for (i = 0; i < n; i++) this.num[i] *= US;
        this.wholeSeconds = true;
      }
    }
  }

  /* the cell as a string (null for NA): strings, categories, text */
  Column.prototype.str = function (i) {
    if (this.codes) { var c = this.codes[i]; return c < 0 ? null : this.dict[c]; }
    if (this.prefix !== undefined) return this.na[i] ? null : this.prefix + this.ids.str(i) + this.suffix;
    if (this.values) return this.values[i];
    var v = this.num[i];
    if (v !== v) return null;
    if (this.kind === "bool") return v ? "True" : "False";
    if (this.kind === "datetime") return isoTime(v, false);
    return String(v);
  };

  Column.prototype.isNA = function (i) {
    if (this.num) return this.num[i] !== this.num[i];
    return this.str(i) === null;
  };

  // -- CSV exactly like imgframe.to_csv ---------------------------------------------------

  var FORMULA = /^'*(?:[=+\-@\t\r]|$)/;
  function neutralise(text) { return FORMULA.test(text) ? "'" + text : text; }
  function unneutralise(text) {
    return text.charAt(0) === "'" && FORMULA.test(text.slice(1)) ? text.slice(1) : text;
  }
  var NEEDS_QUOTES = /[",\r\n]/;
  function quote(field) {
    return NEEDS_QUOTES.test(field) ? '"' + field.replace(/"/g, '""') + '"' : field;
  }
  function pad(n, width) { var s = String(n); while (s.length < width) s = "0" + s; return s; }

  function isoTime(us, fraction) {
    var sec = Math.floor(us / US), rest = us - sec * US;
    var d = new Date(sec * 1000);
    var text = pad(d.getUTCFullYear(), 4) + "-" + pad(d.getUTCMonth() + 1, 2) + "-" + pad(d.getUTCDate(), 2) +
      "T" + pad(d.getUTCHours(), 2) + ":" + pad(d.getUTCMinutes(), 2) + ":" + pad(d.getUTCSeconds(), 2);
    return text + (fraction ? "." + pad(Math.round(rest), 6) : "") + "Z";
  }

  /* one function per column turning a row into its CSV field, given the selection
     (timestamps get a fraction only when some selected value has one, like to_csv) */
  function csvWriter(col, rows) {
    if (col.kind === "datetime") {
      var fraction = false;
      if (!col.wholeSeconds) {
        for (var k = 0; k < rows.length; k++) {
          var v = col.num[rows[k]];
          if (v === v && v % US !== 0) { fraction = true; break; }
        }
      }
      return function (i) { var t = col.num[i]; return t !== t ? "" : isoTime(t, fraction); };
    }
    if (col.kind === "string") {
      return function (i) { var s = col.str(i); return s === null ? "" : quote(neutralise(s)); };
    }
    if (col.kind === "text") {
      return function (i) { var s = col.str(i); return s === null ? "" : quote(s); };
    }
    return function (i) { var s = col.str(i); return s === null ? "" : quote(s); };
  }

  function toCSV(columns, rows) {
    var writers = columns.map(function (c) { return csvWriter(c, rows); });
    var lines = new Array(rows.length + 1);
    var header = columns.map(function (c) { return quote(c.name); });
    lines[0] = header.length === 1 && header[0] === "" ? '""' : header.join(",");
    for (var k = 0; k < rows.length; k++) {
      var i = rows[k], cells = new Array(writers.length);
      for (var j = 0; j < writers.length; j++) cells[j] = writers[j](i);
      lines[k + 1] = cells.length === 1 && cells[0] === "" ? '""' : cells.join(",");
    }
    return lines.join("\r\n") + "\r\n";
  }

  // -- the query: df.images.select's meaning ----------------------------------------------

  function QueryError(parameter, message) {
    var e = new Error(parameter + ": " + message);
    e.name = "QueryError"; e.parameter = parameter;
    return e;
  }

  /* Python's fnmatch.translate, as a JavaScript RegExp (whole name, case-sensitive) */
  function escapeChar(c) { return "^$\\.*+?()[]{}|/".indexOf(c) >= 0 ? "\\" + c : c; }
  function globRegExp(pattern) {
    var p = Array.from(pattern), n = p.length, out = [], i = 0;
    function sl(a, b) { return p.slice(a, b).join(""); }
    function find(ch, from, to) { for (var q = from; q < to; q++) if (p[q] === ch) return q; return -1; }
    while (i < n) {
      var c = p[i]; i += 1;
      if (c === "*") { if (out[out.length - 1] !== ".*") out.push(".*"); }
      else if (c === "?") out.push(".");
      else if (c === "[") {
        var j = i;
        if (j < n && p[j] === "!") j += 1;
        if (j < n && p[j] === "]") j += 1;
        while (j < n && p[j] !== "]") j += 1;
        if (j >= n) { out.push("\\["); continue; }
        var stuff, chunks;
        if (p.slice(i, j).indexOf("-") < 0) chunks = [sl(i, j)];
        else {
          chunks = [];
          var k = p[i] === "!" ? i + 2 : i + 1;
          for (;;) {
            k = find("-", k, j);
            if (k < 0) break;
            chunks.push(sl(i, k)); i = k + 1; k = k + 3;
          }
          var chunk = sl(i, j);
          if (chunk) chunks.push(chunk); else chunks[chunks.length - 1] += "-";
          for (var m = chunks.length - 1; m > 0; m--) {
            var a = Array.from(chunks[m - 1]), b = Array.from(chunks[m]);
            if (a[a.length - 1].codePointAt(0) > b[0].codePointAt(0)) {
              chunks[m - 1] = a.slice(0, -1).join("") + b.slice(1).join("");
              chunks.splice(m, 1);
            }
          }
        }
        stuff = chunks.map(function (s) {
          return s.replace(/\\/g, "\\\\").replace(/-/g, "\\-").replace(/\[/g, "\\[").replace(/\]/g, "\\]");
        }).join("-");
        i = j + 1;
        if (!stuff) out.push("(?!)");
        else if (stuff === "!") out.push(".");
        else {
          if (stuff.charAt(0) === "!") stuff = "^" + stuff.slice(1);
          else if (stuff.charAt(0) === "^") stuff = "\\" + stuff;
          out.push("[" + stuff + "]");
        }
      } else out.push(escapeChar(c));
    }
    return new RegExp("^(?:" + out.join("") + ")$", "su");
  }

  /* "/re/" typed in the name box: a regex (searched anywhere), else the text itself */
  function parseName(text) {
    text = (text || "").trim();
    if (!text) return null;
    if (text.length >= 2 && text.charAt(0) === "/" && text.charAt(text.length - 1) === "/") {
      try { return new RegExp(text.slice(1, -1)); } catch (e) {
        throw QueryError("name", "invalid regular expression: " + e.message);
      }
    }
    return text;
  }

  var TIME_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
  /* an ISO 8601 time (naive means UTC) as [whole microseconds, remaining nanoseconds] */
  function parseTime(value, parameter) {
    var m = typeof value === "string" ? TIME_RE.exec(value.trim()) : null;
    if (!m) throw QueryError(parameter, "an ISO 8601 date/time such as 2026-01-31 or 2026-01-31T12:00:00Z, got " + JSON.stringify(value));
    var y = +m[1], mo = +m[2], d = +m[3], h = +(m[4] || 0), mi = +(m[5] || 0), s = +(m[6] || 0);
    var ms = Date.UTC(y, mo - 1, d, h, mi, s);
    var check = new Date(ms);
    if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || s > 59 || y < 1) {
      throw QueryError(parameter, "not a valid date/time: " + JSON.stringify(value));
    }
    if (y < 100) ms = Date.UTC(y + 400, mo - 1, d, h, mi, s) - 12622780800000;
    var frac = (m[7] || "") + "000000000";
    var ns = +frac.slice(0, 9);
    var tz = m[8] && m[8].toUpperCase() !== "Z" ? m[8] : null;
    if (tz) {
      var sign = tz.charAt(0) === "-" ? -1 : 1, digits = tz.slice(1).replace(":", "");
      ms -= sign * ((+digits.slice(0, 2)) * 60 + (+(digits.slice(2) || 0))) * 60000;
    }
    return [ms * 1000 + Math.floor(ns / 1000), ns % 1000];
  }

  function normStatus(value) {
    var allowed = "one of " + STATUS_ORDER.join(", ") + " (any case), or a list of them";
    var words;
    if (typeof value === "string") words = value.split(",");
    else if (Array.isArray(value)) {
      if (!value.length) throw QueryError("status", allowed + "; the list is empty");
      words = value.map(function (w) {
        if (typeof w !== "string") throw QueryError("status", allowed + "; " + JSON.stringify(w) + " is not a string");
        return w;
      });
    } else throw QueryError("status", allowed + ", got " + JSON.stringify(value));
    var out = [];
    words.forEach(function (w) {
      var up = w.trim().toUpperCase();
      if (STATUS_ORDER.indexOf(up) < 0) throw QueryError("status", allowed + ", got " + JSON.stringify(w));
      if (out.indexOf(up) < 0) out.push(up);
    });
    return out;
  }

  // -- the model ----------------------------------------------------------------------------

  function Model(data) {
    var n = this.n = data.rows, self = this;
    this.data = data;
    this.columns = [];
    this.byName = {};
    var specs = data.columns, idSpec = specs.filter(function (s) { return s.name === "id"; })[0];
    var idCol = idSpec ? new Column(idSpec, n, null) : null;
    specs.forEach(function (spec) {
      var col = spec === idSpec ? idCol : new Column(spec, n, idCol);
      self.columns.push(col); self.byName[col.name] = col;
    });
    // status as an index into STATUS_ORDER (-1: none), per dictionary code when possible
    var st = this.byName.status;
    this.statusIndex = new Int8Array(n).fill(-1);
    if (st) {
      var i;
      if (st.codes) {
        var map = st.dict.map(function (v) { return STATUS_ORDER.indexOf(String(v).toUpperCase()); });
        for (i = 0; i < n; i++) { var c = st.codes[i]; this.statusIndex[i] = c < 0 ? -1 : map[c]; }
      } else for (i = 0; i < n; i++) { var v = st.str(i); this.statusIndex[i] = v === null ? -1 : STATUS_ORDER.indexOf(v.toUpperCase()); }
    }
    this.statusCounts = STATUS_ORDER.map(function () { return 0; });
    for (var r = 0; r < n; r++) if (this.statusIndex[r] >= 0) this.statusCounts[this.statusIndex[r]]++;
  }

  Model.prototype.nameMask = function (name) {
    var col = this.byName.name, n = this.n, out = new Uint8Array(n), i;
    if (!col) throw QueryError("name", "this frame has no name column");
    var test;
    if (name instanceof RegExp || (name && typeof name === "object" && typeof name.regex === "string")) {
      var re;
      try { re = name instanceof RegExp ? new RegExp(name.source, name.flags.replace(/[gy]/g, "")) : new RegExp(name.regex, name.flags || ""); }
      catch (e) { throw QueryError("name", "invalid regular expression: " + e.message); }
      test = function (v) { return re.test(v); };
    } else if (typeof name === "string") {
      if (!/[*?[]/.test(name)) test = function (v) { return v === name; };
      else {
        var glob = globRegExp(name);
        test = function (v) { return v === name || glob.test(v); };
      }
    } else throw QueryError("name", "an exact name, a glob such as 'ubuntu-22.04*', or a regex (a RegExp or {regex: '...'}), got " + JSON.stringify(name));
    if (col.codes) {
      var hits = col.dict.map(function (v) { return test(v) ? 1 : 0; });
      for (i = 0; i < n; i++) { var c = col.codes[i]; out[i] = c < 0 ? 0 : hits[c]; }
    } else for (i = 0; i < n; i++) { var v = col.str(i); out[i] = v !== null && test(v) ? 1 : 0; }
    return out;
  };

  /* the row indices the query selects, in frame order */
  Model.prototype.rowsFor = function (query) {
    query = query || {};
    var n = this.n, self = this, keep = new Uint8Array(n).fill(1), i;
    var known = { status: 1, name: 1, since: 1, until: 1, column: 1, sort: 1 };
    if (query.status !== undefined && query.status !== null) {
      if (!this.byName.status) throw QueryError("status", "this frame has no status column");
      var want = new Uint8Array(STATUS_ORDER.length);
      normStatus(query.status).forEach(function (s) { want[STATUS_ORDER.indexOf(s)] = 1; });
      for (i = 0; i < n; i++) { var si = this.statusIndex[i]; if (si < 0 || !want[si]) keep[i] = 0; }
    }
    if (query.name !== undefined && query.name !== null) {
      var nm = this.nameMask(query.name);
      for (i = 0; i < n; i++) keep[i] &= nm[i];
    }
    var column = query.column === undefined || query.column === null ? "updated" : query.column;
    if (TIME_COLUMNS.indexOf(column) < 0) throw QueryError("column", "one of 'updated', 'created', got " + JSON.stringify(column));
    var hasSince = query.since !== undefined && query.since !== null;
    var hasUntil = query.until !== undefined && query.until !== null;
    if (hasSince || hasUntil) {
      var t = this.byName[column];
      if (!t || t.kind !== "datetime") throw QueryError("column", "this frame has no " + column + " times");
      var lo = hasSince ? parseTime(query.since, "since") : null;
      var hi = hasUntil ? parseTime(query.until, "until") : null;
      if (lo && hi && (lo[0] > hi[0] || (lo[0] === hi[0] && lo[1] > hi[1]))) {
        throw QueryError("until", "a time at or after since; until (" + query.until + ") is before since (" + query.since + "), so nothing could match");
      }
      var loUs = lo ? lo[0] + (lo[1] > 0 ? 1 : 0) : -Infinity, hiUs = hi ? hi[0] : Infinity;
      for (i = 0; i < n; i++) { var v = t.num[i]; if (!(v >= loUs && v <= hiUs)) keep[i] = 0; }
    }
    Object.keys(query).forEach(function (key) {
      if (known[key] || query[key] === undefined || query[key] === null) return;
      var col = self.byName[key];
      if (!col) throw QueryError(key, "not a query key nor a column of this frame (query keys: status, name, since, until, column, sort)");
      var values = Array.isArray(query[key]) ? query[key] : [query[key]];
      var wanted = {};
      values.forEach(function (v) { wanted[typeof v === "boolean" ? (v ? "True" : "False") : String(v)] = 1; });
      for (var r = 0; r < n; r++) {
        if (!keep[r]) continue;
        var s = col.str(r);
        if (s === null || !wanted[col.kind === "text" ? unneutralise(s) : s]) keep[r] = 0;
      }
    });
    var count = 0;
    for (i = 0; i < n; i++) count += keep[i];
    var rows = new Int32Array(count), k = 0;
    for (i = 0; i < n; i++) if (keep[i]) rows[k++] = i;
    return rows;
  };

  /* code-point order (Python's), not UTF-16 code units */
  function comparePoints(a, b) {
    var len = Math.min(a.length, b.length);
    for (var i = 0; i < len; i++) {
      var x = a.charCodeAt(i), y = b.charCodeAt(i);
      if (x !== y) {
        if (x >= 0xd800 && x <= 0xdfff) x += 0x2000; else if (x >= 0xe000) x -= 0x800;
        if (y >= 0xd800 && y <= 0xdfff) y += 0x2000; else if (y >= 0xe000) y -= 0x800;
        return x - y;
      }
    }
    return a.length - b.length;
  }

  /* rows sorted stably by one column (NA last either way, ties in frame order) */
  Model.prototype.sorted = function (rows, sort) {
    if (!sort) return rows;
    var desc = sort.charAt(0) === "-", name = desc ? sort.slice(1) : sort, col = this.byName[name];
    if (!col) throw QueryError("sort", "a column name (or -name for descending), got " + JSON.stringify(sort));
    var present = [], missing = [], k, i, keys;
    for (k = 0; k < rows.length; k++) (col.isNA(rows[k]) ? missing : present).push(rows[k]);
    var cmp;
    if (col.num) cmp = function (a, b) { return col.num[a] - col.num[b]; };
    else if (col.codes && col.kind !== "text") cmp = function (a, b) { return col.codes[a] - col.codes[b]; };
    else {
      keys = {};
      for (k = 0; k < present.length; k++) { i = present[k]; keys[i] = col.str(i); }
      cmp = function (a, b) { return comparePoints(keys[a], keys[b]); };
    }
    present.sort(desc ? function (a, b) { return cmp(b, a); } : cmp);
    return Int32Array.from(present.concat(missing));
  };

  // -- display formats ------------------------------------------------------------------------

  var UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  function humanBytes(v) {
    for (var u = 0; u < UNITS.length; u++) {
      if (Math.abs(v) < 1024 || u === UNITS.length - 1) return u === 0 ? Math.trunc(v) + " B" : v.toFixed(1) + " " + UNITS[u];
      v /= 1024;
    }
  }
  function visible(text) {  // control characters shown as their pictures, never acted on
    return text.replace(/[\u0000-\u001f\u007f]/g, function (c) {
      return c === "\u007f" ? "\u2421" : String.fromCharCode(0x2400 + c.charCodeAt(0));
    });
  }
  function display(col, i) {
    if (col.isNA(i)) return null;
    if (col.kind === "datetime") return isoTime(col.num[i], false).replace("T", " ").replace("Z", "");
    if (col.kind === "int") {
      var v = col.num[i];
      if (SIZE_COLUMNS[col.name]) return humanBytes(v);
      return v.toLocaleString("en-US") + (UNIT_COLUMNS[col.name] ? " " + UNIT_COLUMNS[col.name] : "");
    }
    var s = col.str(i);
    return visible(col.kind === "text" ? unneutralise(s) : s);
  }
  function fmt(n) { return n.toLocaleString("en-US"); }

  // -- the page -------------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "class") e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }

  function App(model, root) {
    this.model = model;
    this.root = root;
    var present = model.columns.map(function (c) { return c.name; });
    this.state = {
      status: [], name: "", column: "updated", since: "", until: "", facets: {}, sort: null, page: 0,
      table: DEFAULT_TABLE.filter(function (c) { return present.indexOf(c) >= 0; })
    };
    if (!this.state.table.length) this.state.table = present.slice(0, 8);
    this.rows = new Int32Array(0);
    this.error = null;
    this.build();
  }

  App.prototype.query = function () {
    var s = this.state, q = { column: s.column, sort: s.sort };
    if (s.status.length) q.status = s.status.slice();
    var name = parseName(s.name);
    if (name !== null) q.name = name;
    if (s.since) q.since = s.since + "T00:00:00Z";
    if (s.until) q.until = s.until + "T23:59:59.999999999Z";
    Object.keys(s.facets).forEach(function (k) { if (s.facets[k] !== "") q[k] = s.facets[k]; });
    return q;
  };

  App.prototype.header = function () {
    var a = this.model.data.attrs, d = this.model.data, items = [];
    function item(label, value, cls) {
      if (value === undefined || value === null || value === "") return;
      items.push(el("div", null, [el("dt", { text: label }), el("dd", { text: String(value), "class": cls || "" })]));
    }
    item("source", a.source);
    item("endpoint", a.endpoint);
    item("project", a.project_id);
    item("cloud", a.cloud);
    item("region", a.region);
    item("usage scope", a.usage_scope);
    item("loaded", a.loaded_at ? a.loaded_at.replace("T", " ").replace("Z", " UTC") : null);
    item("images", fmt(this.model.n));
    item("load", d.complete ? "complete" : (a.truncated ? "incomplete: truncated (max_items)" : "incomplete: partial"),
      d.complete ? "imgframe-complete" : "imgframe-incomplete");
    item("report written", d.generated_at.replace("T", " ").replace("Z", " UTC"));
    return el("header", { "class": "imgframe-header" }, [
      el("h1", { text: "Image inventory" }), el("dl", { "class": "imgframe-meta" }, items)]);
  };

  App.prototype.build = function () {
    var self = this, m = this.model, s = this.state;
    this.root.textContent = "";
    this.root.appendChild(this.header());
    var controls = el("section", { "class": "imgframe-controls" });
    // statuses
    if (m.byName.status) {
      var chips = el("div", { "class": "imgframe-row imgframe-statuses" });
      this.statusButtons = {};
      STATUS_ORDER.forEach(function (st, k) {
        if (!m.statusCounts[k]) return;
        var b = el("button", { type: "button", "aria-pressed": "false", "class": "imgframe-status-" + st.toLowerCase(),
          title: "only " + st + " images (none pressed: every status)", text: st + " (" + fmt(m.statusCounts[k]) + ")" });
        b.addEventListener("click", function () {
          var at = s.status.indexOf(st);
          if (at >= 0) s.status.splice(at, 1); else s.status.push(st);
          s.status.sort(function (x, y) { return STATUS_ORDER.indexOf(x) - STATUS_ORDER.indexOf(y); });
          b.setAttribute("aria-pressed", at >= 0 ? "false" : "true");
          self.update(true);
        });
        self.statusButtons[st] = b;
        chips.appendChild(b);
      });
      controls.appendChild(chips);
    }
    // name
    var row2 = el("div", { "class": "imgframe-row" });
    if (m.byName.name) {
      this.nameInput = el("input", { type: "search", placeholder: "exact name, glob (ubuntu-*) or /regex/", "aria-label": "name", spellcheck: "false" });
      var timer = null;
      this.nameInput.addEventListener("input", function () {
        s.name = self.nameInput.value;
        clearTimeout(timer);
        timer = setTimeout(function () { self.update(true); }, m.n > 200000 ? 150 : 0);
      });
      this.nameMessage = el("span", { "class": "imgframe-name-message", role: "alert" });
      row2.appendChild(el("label", { "class": "imgframe-name" }, [el("span", { text: "name" }), this.nameInput]));
      row2.appendChild(this.nameMessage);
    }
    // facets: visibility, owner, ... when present
    FACETS.forEach(function (name) {
      var col = m.byName[name];
      if (!col || !(col.kind === "bool" || col.codes)) return;
      var counts = {}, i, values;
      for (i = 0; i < m.n; i++) { var v = col.str(i); if (v !== null) counts[v] = (counts[v] || 0) + 1; }
      values = Object.keys(counts).sort(comparePoints);
      if (!values.length || values.length > 200) return;
      var sel = el("select", { "class": "imgframe-facet imgframe-facet-" + name, "aria-label": name });
      sel.appendChild(el("option", { value: "", text: "any" }));
      values.forEach(function (v) { sel.appendChild(el("option", { value: v, text: visible(v) + " (" + fmt(counts[v]) + ")" })); });
      sel.addEventListener("change", function () { s.facets[name] = sel.value; self.update(true); });
      row2.appendChild(el("label", null, [el("span", { text: name }), sel]));
    });
    controls.appendChild(row2);
    // time range
    var times = TIME_COLUMNS.filter(function (c) { return m.byName[c] && m.byName[c].kind === "datetime"; });
    if (times.length) {
      var row3 = el("div", { "class": "imgframe-row imgframe-time" });
      this.columnButtons = {};
      times.forEach(function (c) {
        var b = el("button", { type: "button", "class": "imgframe-column-" + c, "aria-pressed": String(c === s.column), text: c });
        b.addEventListener("click", function () {
          s.column = c;
          Object.keys(self.columnButtons).forEach(function (k) { self.columnButtons[k].setAttribute("aria-pressed", String(k === c)); });
          self.update(true);
        });
        self.columnButtons[c] = b;
        row3.appendChild(b);
      });
      if (times.indexOf(s.column) < 0) s.column = times[0];
      this.sinceInput = el("input", { type: "date", "class": "imgframe-since", "aria-label": "since (UTC)" });
      this.untilInput = el("input", { type: "date", "class": "imgframe-until", "aria-label": "until (UTC)" });
      [["since", this.sinceInput], ["until", this.untilInput]].forEach(function (pair) {
        pair[1].addEventListener("change", function () { s[pair[0]] = pair[1].value; self.update(true); });
      });
      row3.appendChild(el("label", null, [el("span", { text: "from" }), this.sinceInput]));
      row3.appendChild(el("label", null, [el("span", { text: "to" }), this.untilInput]));
      row3.appendChild(el("span", { "class": "imgframe-muted", text: "(UTC days, both included; a range leaves out images without that time)" }));
      controls.appendChild(row3);
    }
    this.root.appendChild(controls);
    this.count = el("div", { "class": "imgframe-count", "aria-live": "polite" });
    this.root.appendChild(this.count);
    this.canvas = el("canvas", { "class": "imgframe-chart", role: "img", "aria-label": "changes per period by status" });
    this.root.appendChild(this.canvas);
    // table bar: columns chooser, pager, download
    var bar = el("div", { "class": "imgframe-tablebar" });
    var chooser = el("details", { "class": "imgframe-columns" }, [el("summary", { text: "columns" })]);
    var grid = el("div");
    m.columns.forEach(function (c) {
      var box = el("input", { type: "checkbox", value: c.name });
      box.checked = s.table.indexOf(c.name) >= 0;
      box.addEventListener("change", function () {
        var order = m.columns.map(function (x) { return x.name; });
        if (box.checked) s.table.push(c.name); else s.table.splice(s.table.indexOf(c.name), 1);
        s.table.sort(function (x, y) { return order.indexOf(x) - order.indexOf(y); });
        self.renderTable();
      });
      grid.appendChild(el("label", null, [box, el("span", { text: c.name })]));
    });
    chooser.appendChild(grid);
    bar.appendChild(chooser);
    this.prev = el("button", { type: "button", "class": "imgframe-prev", text: "\u2039 prev" });
    this.next = el("button", { type: "button", "class": "imgframe-next", text: "next \u203a" });
    this.pageInfo = el("span", { "class": "imgframe-page" });
    this.prev.addEventListener("click", function () { s.page -= 1; self.renderTable(); });
    this.next.addEventListener("click", function () { s.page += 1; self.renderTable(); });
    bar.appendChild(this.prev); bar.appendChild(this.pageInfo); bar.appendChild(this.next);
    this.download = el("button", { type: "button", "class": "imgframe-download", text: "Download CSV" });
    this.download.addEventListener("click", function () { self.downloadCSV(); });
    bar.appendChild(this.download);
    this.root.appendChild(bar);
    this.tableWrap = el("div", { "class": "imgframe-table-wrap imgframe-table" });
    this.root.appendChild(this.tableWrap);
    window.addEventListener("resize", function () { self.drawChart(); });
  };

  /* after a reload: the same filters, sort and columns where the new data allows them */
  App.prototype.restore = function (prev) {
    var self = this, m = this.model, s = this.state;
    s.status = prev.status.filter(function (st) { return self.statusButtons && self.statusButtons[st]; });
    s.status.forEach(function (st) { self.statusButtons[st].setAttribute("aria-pressed", "true"); });
    if (this.nameInput) { s.name = prev.name; this.nameInput.value = prev.name; }
    if (this.columnButtons && this.columnButtons[prev.column]) {
      s.column = prev.column;
      Object.keys(this.columnButtons).forEach(function (k) { self.columnButtons[k].setAttribute("aria-pressed", String(k === s.column)); });
    }
    if (this.sinceInput) { s.since = prev.since; this.sinceInput.value = prev.since; }
    if (this.untilInput) { s.until = prev.until; this.untilInput.value = prev.until; }
    Object.keys(prev.facets).forEach(function (name) {
      var sel = self.root.querySelector(".imgframe-facet-" + name);
      if (!sel) return;
      sel.value = prev.facets[name];
      if (sel.value === prev.facets[name]) s.facets[name] = prev.facets[name];
    });
    s.sort = prev.sort && m.byName[prev.sort.replace(/^-/, "")] ? prev.sort : null;
    var table = prev.table.filter(function (c) { return m.byName[c]; });
    if (table.length) s.table = table;
    s.page = prev.page;
    this.root.querySelectorAll(".imgframe-columns input").forEach(function (box) { box.checked = s.table.indexOf(box.value) >= 0; });
  };

  App.prototype.update = function (resetPage) {
    var started = performance.now();
    try {
      this.rows = this.model.sorted(this.model.rowsFor(this.query()), this.state.sort);
      this.error = null;
    } catch (e) {
      if (e.name !== "QueryError") throw e;
      this.rows = new Int32Array(0);
      this.error = e.message;
    }
    if (this.nameMessage) this.nameMessage.textContent = this.error ? "\u26a0 " + this.error : "";
    this.download.disabled = !!this.error;
    this.count.textContent = "";
    if (this.error) this.count.appendChild(el("span", { "class": "imgframe-error", text: "no valid selection (0 of " + fmt(this.model.n) + " images): " + this.error }));
    else {
      this.count.appendChild(el("b", { text: fmt(this.rows.length) }));
      this.count.appendChild(document.createTextNode(" of " + fmt(this.model.n) + " images"));
    }
    if (resetPage) this.state.page = 0;
    this.renderTable();
    this.drawChart();
    this.lastUpdateMs = performance.now() - started;
    return this.rows;
  };

  App.prototype.renderTable = function () {
    var self = this, m = this.model, s = this.state, rows = this.rows;
    var pages = Math.max(1, Math.ceil(rows.length / PAGE));
    s.page = Math.min(Math.max(0, s.page), pages - 1);
    var start = s.page * PAGE, end = Math.min(rows.length, start + PAGE);
    this.prev.disabled = s.page === 0;
    this.next.disabled = s.page >= pages - 1;
    this.pageInfo.textContent = rows.length ? "rows " + fmt(start + 1) + "\u2013" + fmt(end) + " of " + fmt(rows.length) : "no rows";
    var cols = s.table.map(function (n) { return m.byName[n]; }).filter(Boolean);
    var head = el("tr");
    cols.forEach(function (c) {
      var sortState = s.sort === c.name ? "ascending" : s.sort === "-" + c.name ? "descending" : "none";
      var th = el("th", { text: c.name, scope: "col", "aria-sort": sortState, "class": c.kind === "int" ? "num" : "", "data-column": c.name,
        title: "sort by " + c.name + " (again: descending, then frame order)" });
      th.addEventListener("click", function () {
        s.sort = s.sort === c.name ? "-" + c.name : s.sort === "-" + c.name ? null : c.name;
        self.update(true);
      });
      head.appendChild(th);
    });
    var body = el("tbody");
    for (var k = start; k < end; k++) {
      var i = rows[k], tr = el("tr", { "data-id": m.byName.id ? (m.byName.id.str(i) || "") : String(i) });
      for (var j = 0; j < cols.length; j++) {
        var text = display(cols[j], i);
        var td = el("td", { text: text === null ? "\u2013" : text, "class": (cols[j].kind === "int" ? "num" : "") + (text === null ? " imgframe-na" : "") });
        if (text !== null && text.length > 40) td.title = text;  // the whole cell (reasons...)
        if (cols[j].name === "verdict" && text !== null && VERDICT_COLORS[text]) {
          td.classList.add("imgframe-verdict");
          td.style.color = VERDICT_COLORS[text];  // CSSOM: allowed under the page's CSP
        }
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    var table = el("table", { "class": "imgframe-rows" }, [el("thead", null, [head]), body]);
    this.tableWrap.textContent = "";
    this.tableWrap.appendChild(table);
  };

  /* Bars per day up to two months, per week (from Monday) up to a year, then per month. */
  App.prototype.drawChart = function () {
    var canvas = this.canvas, m = this.model, col = m.byName[this.state.column];
    var ratio = window.devicePixelRatio || 1, w = canvas.clientWidth || 900, h = canvas.clientHeight || 240;
    canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio);
    var g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    g.font = "12px system-ui, sans-serif";
    g.fillStyle = "#5b6472";
    var rows = this.rows, lo = Infinity, hi = -Infinity, k, t;
    if (col && col.num) for (k = 0; k < rows.length; k++) { t = col.num[rows[k]]; if (t < lo) lo = t; if (t > hi) hi = t; }
    if (!(hi >= lo)) { g.fillText(this.error ? "no valid selection" : "no " + this.state.column + " times in the selection", 12, 24); return; }
    var span = (hi - lo) / US / 86400, freq = span <= 62 ? "D" : span <= 366 ? "W" : "M";
    var key = function (us) {
      var day = Math.floor(us / US / 86400);
      if (freq === "D") return day;
      if (freq === "W") return day - ((day + 3) % 7 + 7) % 7;
      var d = new Date(day * 86400000);
      return d.getUTCFullYear() * 12 + d.getUTCMonth();
    };
    var first = key(lo), last = key(hi), step = freq === "W" ? 7 : 1;
    var nb = Math.floor((last - first) / step) + 1, counts = new Int32Array(nb * 5), max = 1, totals = new Int32Array(nb);
    for (k = 0; k < rows.length; k++) {
      var i = rows[k]; t = col.num[i];
      var si = m.statusIndex[i];
      if (t !== t || si < 0) continue;
      var b = Math.floor((key(t) - first) / step);
      counts[b * 5 + si]++; totals[b]++;
    }
    for (k = 0; k < nb; k++) if (totals[k] > max) max = totals[k];
    var left = 48, right = 10, top = 22, bottom = 26, pw = w - left - right, ph = h - top - bottom, bw = pw / nb;
    var label = function (b) {
      var v = first + b * step;
      if (freq === "M") return pad(Math.floor(v / 12), 4) + "-" + pad(v % 12 + 1, 2);
      return isoTime(v * 86400 * US, false).slice(0, 10);
    };
    // y grid
    var ticks = 4, unit = Math.max(1, Math.ceil(max / ticks));
    g.strokeStyle = "#eef0f3"; g.textAlign = "right";
    for (k = 0; k <= ticks; k++) {
      var yv = k * unit, y = top + ph - (yv / (unit * ticks)) * ph;
      g.beginPath(); g.moveTo(left, y); g.lineTo(w - right, y); g.stroke();
      g.fillText(fmt(yv), left - 4, y + 4);
    }
    var scale = ph / (unit * ticks);
    for (b = 0; b < nb; b++) {
      var y0 = top + ph;
      for (var s = 0; s < 5; s++) {
        var c = counts[b * 5 + s];
        if (!c) continue;
        g.fillStyle = STATUS_COLORS[STATUS_ORDER[s]];
        g.fillRect(left + b * bw + (bw > 3 ? 0.5 : 0), y0 - c * scale, Math.max(1, bw - (bw > 3 ? 1 : 0)), c * scale);
        y0 -= c * scale;
      }
    }
    g.fillStyle = "#5b6472"; g.textAlign = "center";
    var every = Math.max(1, Math.ceil(nb / Math.max(1, Math.floor(pw / 90))));
    for (b = 0; b < nb; b += every) g.fillText(label(b), left + (b + 0.5) * bw, h - 8);
    g.textAlign = "left";
    var x = left;
    g.fillText("images per " + { D: "day", W: "week", M: "month" }[freq] + " by " + this.state.column + " (UTC):", x, 14);
    x += g.measureText("images per month by updated (UTC): ").width + 8;
    STATUS_ORDER.forEach(function (st, si) {
      if (!m.statusCounts[si]) return;
      g.fillStyle = STATUS_COLORS[st]; g.fillRect(x, 5, 10, 10);
      g.fillStyle = "#5b6472"; g.fillText(st, x + 14, 14);
      x += g.measureText(st).width + 28;
    });
  };

  App.prototype.downloadCSV = function () {
    if (this.error) return;
    var text = toCSV(this.model.columns, this.rows);
    var url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
    var a = el("a", { href: url, download: "imgframe-selection.csv" });
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
  };

  // -- start ----------------------------------------------------------------------------------

  var live = null;

  function start(data, prev) {
    var model = new Model(data);
    var app = new App(model, document.getElementById("imgframe-report"));
    if (prev) app.restore(prev);
    function ids(rows) {
      var id = model.byName.id, out = new Array(rows.length);
      for (var k = 0; k < rows.length; k++) out[k] = id ? id.str(rows[k]) : rows[k];
      return out;
    }
    function pick(query) {
      query = query || {};
      var rows = model.rowsFor(query);
      return model.sorted(rows, query.sort !== undefined ? query.sort : app.state.sort);
    }
    window.imgframe = {
      rows: model.n,
      columns: model.columns.map(function (c) { return c.name; }),
      attrs: data.attrs,
      complete: data.complete,
      /* ids of the images the query selects, in the table's order (query.sort: a column,
         "-column" for descending, null for frame order; default: the table's sort) */
      select: function (query) { return ids(pick(query)); },
      /* the CSV imgframe.to_csv would write for that selection, in that order */
      csv: function (query) { return toCSV(model.columns, pick(query)); },
      /* what the controls select now, and how they say it */
      query: function () { return app.query(); },
      selection: function () { return ids(app.rows); },
      lastUpdateMs: function () { return app.lastUpdateMs; },
      parseName: parseName,
      globRegExp: globRegExp,
      /* the dashboard's load this page shows (null in a report file) */
      generation: data.generation === undefined ? null : data.generation
    };
    app.update(!prev);
    if (live) live.shown(data.generation, app);
    else if (document.getElementById("imgframe-data").getAttribute("data-status")) live = new Live(app, data.generation);
    requestAnimationFrame(function () {
      performance.mark("imgframe-ready");
      document.documentElement.setAttribute("data-imgframe-ready", "true");
    });
  }

  /* The dashboard's bar: who loaded what when, a Reload button (POST, with the page's
     CSRF token) and the load's progress, polled from the status URL. A load that
     finishes, whoever asked for it, is fetched and shown with the same filters. */
  function Live(app, generation) {
    var self = this, data = document.getElementById("imgframe-data");
    this.statusUrl = data.getAttribute("data-status");
    this.reloadUrl = data.getAttribute("data-reload");
    this.csrf = data.getAttribute("data-csrf");
    this.src = data.getAttribute("data-src");
    this.generation = generation;
    this.app = app;
    this.fetching = false;
    this.button = el("button", { type: "button", "class": "imgframe-reload", text: "Reload from the cloud",
      title: "load the inventory again, for everyone viewing this dashboard" });
    this.message = el("span", { "class": "imgframe-live-status", role: "status", "aria-live": "polite" });
    this.button.addEventListener("click", function () { self.reload(); });
    this.bar = el("div", { "class": "imgframe-live" }, [this.button, this.message]);
    var root = document.getElementById("imgframe-report");
    root.parentNode.insertBefore(this.bar, root);
    this.poll();
  }

  Live.prototype.shown = function (generation, app) { this.generation = generation; this.app = app; };

  Live.prototype.reload = function () {
    var self = this;
    this.button.disabled = true;
    fetchJSON(this.reloadUrl, { method: "POST", headers: { "X-Imgframe-CSRF": this.csrf } })
      .then(function (st) { self.show(st); })
      .catch(function (e) { self.message.textContent = "\u26a0 " + (e && e.message || e); self.button.disabled = false; });
    setTimeout(function () { self.poll(true); }, 200);
  };

  Live.prototype.show = function (st) {
    var text;
    this.button.disabled = st.state === "loading";
    if (st.state === "loading") {
      text = "Reloading from the cloud\u2026 " + fmt(st.requests || 0) + " requests, " + (st.elapsed || 0).toFixed(1) + " s";
    } else {
      text = "loaded " + (st.loaded_at || "").replace("T", " ").replace("Z", " UTC") + " (" + fmt(st.rows) + " images, load " + st.generation + ")";
      if (st.state === "error") text = "\u26a0 the last reload failed: " + st.error + "; showing the inventory " + text;
    }
    this.message.textContent = text;
    this.bar.setAttribute("data-state", st.state);
  };

  Live.prototype.poll = function (once) {
    var self = this;
    fetchJSON(this.statusUrl).then(function (st) {
      self.show(st);
      if (st.generation !== self.generation && !self.fetching) self.refresh();
      if (!once) setTimeout(function () { self.poll(); }, st.state === "loading" ? 500 : 3000);
    }).catch(function (e) {
      self.message.textContent = "\u26a0 the dashboard is unreachable (" + (e && e.message || e) + ")";
      if (!once) setTimeout(function () { self.poll(); }, 5000);
    });
  };

  Live.prototype.refresh = function () {
    var self = this, prev = JSON.parse(JSON.stringify(this.app.state));
    this.fetching = true;
    fetchJSON(this.src).then(function (data) {
      self.fetching = false;
      start(data, prev);
    }).catch(function (e) {
      self.fetching = false;
      self.message.textContent = "\u26a0 the new inventory could not be shown: " + (e && e.message || e);
    });
  };

  function fail(e) {
    var root = document.getElementById("imgframe-report");
    root.textContent = "";
    root.appendChild(el("p", { "class": "imgframe-error", text: "This report could not be shown: " + (e && e.message || e) +
      (typeof DecompressionStream === "undefined" ? " (this browser lacks DecompressionStream; use a current Chromium, Firefox or Safari)" : "") }));
    window.imgframeError = String(e && e.message || e);
  }

  try { readData().then(start).catch(fail); } catch (e) { fail(e); }
})();
