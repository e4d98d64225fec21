/* A small Markdown renderer that never parses HTML.
 *
 * Model output and user text reach the page only as text nodes: the renderer
 * splits the text into blocks and inline spans itself and builds elements with
 * createElement/textContent, so `<img onerror=...>` or `<script>` in an answer
 * is shown as those characters and never becomes markup. No HTML parser is ever called.
 * Supported: paragraphs, line breaks, # headings, - and * lists, 1. and 1)
 * numbered lists (their start number kept, so "5. ..." stays article 5),
 * > quotes, ``` code blocks, **bold**, *italic*, `code`. Links stay text:
 * the page works offline and an answer must not send a lawyer anywhere.
 */
(function (global) {
  "use strict";

  // Bold and italic with asterisks only: underscores are common in names and ids.
  var INLINE = /(\*\*[^*\n]+?\*\*|`[^`\n]+`|\*[^*\s\n][^*\n]*?\*)/;

  function appendInline(parent, text) {
    var parts = text.split(INLINE);
    for (var i = 0; i < parts.length; i++) {
      var part = parts[i];
      if (!part) continue;
      var el = null;
      if (i % 2 === 1) {
        if (part.startsWith("**")) {
          el = document.createElement("strong");
          el.textContent = part.slice(2, -2);
        } else if (part.startsWith("`")) {
          el = document.createElement("code");
          el.textContent = part.slice(1, -1);
        } else {
          el = document.createElement("em");
          el.textContent = part.slice(1, -1);
        }
        parent.appendChild(el);
      } else {
        parent.appendChild(document.createTextNode(part));
      }
    }
  }

  function appendLines(parent, lines) {
    lines.forEach(function (line, i) {
      if (i > 0) parent.appendChild(document.createElement("br"));
      appendInline(parent, line);
    });
  }

  var UL = /^\s*[-*+•]\s+(.*)$/;
  var OL = /^\s*(\d{1,4})[.)]\s+(.*)$/;
  var HEADING = /^(#{1,6})\s+(.*)$/;
  var QUOTE = /^>\s?(.*)$/;
  var FENCE = /^\s*```/;

  function render(text) {
    var frag = document.createDocumentFragment();
    var lines = String(text).replace(/\r\n?/g, "\n").split("\n");
    var i = 0;
    while (i < lines.length) {
      var line = lines[i];
      var m;
      if (!line.trim()) { i++; continue; }
      if (FENCE.test(line)) {
        var code = [];
        i++;
        while (i < lines.length && !FENCE.test(lines[i])) code.push(lines[i++]);
        i++; // the closing fence (or the end of a half-streamed block)
        var pre = document.createElement("pre");
        var c = document.createElement("code");
        c.textContent = code.join("\n");
        pre.appendChild(c);
        frag.appendChild(pre);
        continue;
      }
      if ((m = HEADING.exec(line))) {
        // Answers sit under the page's own h1/h2: their headings start at h3.
        var h = document.createElement("h" + Math.min(6, m[1].length + 2));
        appendInline(h, m[2]);
        frag.appendChild(h);
        i++;
        continue;
      }
      if (UL.test(line) || OL.test(line)) {
        var ordered = !UL.test(line);
        var re = ordered ? OL : UL;
        var list = document.createElement(ordered ? "ol" : "ul");
        if (ordered) {
          var start = parseInt(OL.exec(line)[1], 10);
          if (start !== 1) list.setAttribute("start", String(start));
        }
        var li = null;
        while (i < lines.length && lines[i].trim()) {
          var lm = re.exec(lines[i]);
          if (lm) {
            li = document.createElement("li");
            appendInline(li, ordered ? lm[2] : lm[1]);
            list.appendChild(li);
          } else if (/^\s+\S/.test(lines[i]) && li) {
            li.appendChild(document.createElement("br"));
            appendInline(li, lines[i].trim());
          } else {
            break;
          }
          i++;
        }
        frag.appendChild(list);
        continue;
      }
      if (QUOTE.test(line)) {
        var quoted = [];
        while (i < lines.length && (m = QUOTE.exec(lines[i]))) { quoted.push(m[1]); i++; }
        var bq = document.createElement("blockquote");
        appendLines(bq, quoted);
        frag.appendChild(bq);
        continue;
      }
      var para = [];
      while (i < lines.length && lines[i].trim() && !FENCE.test(lines[i]) && !HEADING.test(lines[i]) &&
             !UL.test(lines[i]) && !OL.test(lines[i]) && !QUOTE.test(lines[i])) {
        para.push(lines[i]);
        i++;
      }
      var p = document.createElement("p");
      appendLines(p, para);
      frag.appendChild(p);
    }
    return frag;
  }

  global.KazftMarkdown = { render: render };
})(window);
