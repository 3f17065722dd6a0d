// 工作台 page behaviour (no inline scripts: the Content-Security-Policy allows only same-origin files).
(function () {
  "use strict";

  // USCC (统一社会信用代码, GB 32100-2015) check digit, as typed; the server checks it again.
  var CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  var WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
  function usccProblem(code) {
    code = (code || "").trim().toUpperCase();
    if (!code) return "";
    if (code.length !== 18) return "统一社会信用代码应为18位，现为" + code.length + "位";
    var sum = 0;
    for (var i = 0; i < 17; i++) {
      var v = CHARS.indexOf(code[i]);
      if (v < 0) return "第" + (i + 1) + "位“" + code[i] + "”不是有效字符（不含 I、O、Z、S、V）";
      sum += v * WEIGHTS[i];
    }
    var check = CHARS[(31 - (sum % 31)) % 31];
    if (code[17] !== check) return "校验位不符：按前17位计算，第18位应为 " + check;
    return "";
  }
  function bindUscc(root) {
    root.querySelectorAll("input[data-uscc]").forEach(function (input) {
      if (input.dataset.usccBound) return;
      input.dataset.usccBound = "1";
      var hint = document.getElementById(input.dataset.uscc);
      var update = function () {
        var problem = usccProblem(input.value);
        if (hint) { hint.textContent = problem; hint.hidden = !problem; }
        input.setCustomValidity("");
      };
      input.addEventListener("input", update);
      update();
    });
  }

  // Amount fields in 元: show the amount in 万元 as typed.
  function bindMoney(root) {
    root.querySelectorAll("input[data-yuan]").forEach(function (input) {
      if (input.dataset.yuanBound) return;
      input.dataset.yuanBound = "1";
      var out = document.getElementById(input.dataset.yuan);
      var update = function () {
        if (!out) return;
        var raw = input.value.replace(/[,，\s元]/g, "");
        var wan = /万$/.test(raw);
        raw = raw.replace(/万$/, "");
        if (!/^\d+(\.\d{0,2})?$/.test(raw) && !(wan && /^\d+(\.\d{0,6})?$/.test(raw))) { out.textContent = ""; return; }
        var parts = raw.split(".");
        var text = Number(parts[0]).toLocaleString("zh-CN") + (parts[1] ? "." + parts[1] : "");
        out.textContent = "= " + text + (wan ? " 万元" : " 元");
      };
      input.addEventListener("input", update);
      update();
    });
  }

  // Charts: <div class="chart" data-chart="id-of-a-json-script"> with an ECharts option.
  function bindCharts(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.chartBound) return;
      el.dataset.chartBound = "1";
      var source = document.getElementById(el.dataset.chart);
      if (!source) return;
      var chart = window.echarts.init(el, null, { renderer: "svg" });
      chart.setOption(JSON.parse(source.textContent));
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  // File upload with a progress bar: <form data-upload-progress="progress-id">.
  function bindUploads(root) {
    root.querySelectorAll("form[data-upload-progress]").forEach(function (form) {
      if (form.dataset.uploadBound) return;
      form.dataset.uploadBound = "1";
      form.addEventListener("htmx:xhr:progress", function (evt) {
        var bar = document.getElementById(form.dataset.uploadProgress);
        if (bar && evt.detail.lengthComputable) { bar.hidden = false; bar.value = (evt.detail.loaded / evt.detail.total) * 100; }
      });
    });
  }

  // Repeatable rows (indicators, funding, tranches): a button clones the last row.
  function bindRepeat(root) {
    root.querySelectorAll("[data-add-row]").forEach(function (button) {
      if (button.dataset.bound) return;
      button.dataset.bound = "1";
      button.addEventListener("click", function () {
        var body = document.getElementById(button.dataset.addRow);
        var last = body && body.lastElementChild;
        if (!last) return;
        var copy = last.cloneNode(true);
        var n = body.children.length;
        copy.querySelectorAll("input, select, label").forEach(function (el) {
          ["id", "for"].forEach(function (attr) {
            var v = el.getAttribute(attr);
            if (v) el.setAttribute(attr, v.replace(/-\d+$/, "-" + n));
          });
          if (el.tagName !== "LABEL") el.value = "";
        });
        copy.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
        body.appendChild(copy);
        bindMoney(copy);
      });
    });
  }

  function bindAll(root) { bindUscc(root); bindMoney(root); bindCharts(root); bindUploads(root); bindRepeat(root); }
  document.addEventListener("DOMContentLoaded", function () { bindAll(document); });
  document.addEventListener("htmx:load", function (evt) { bindAll(evt.target); });
  window.swpUsccProblem = usccProblem;
})();
