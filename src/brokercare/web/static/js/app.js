// BrokerCare pages' behaviour, served from /static so the Content-Security-Policy can forbid
// inline script (script-src 'self'): no inline <script>, no hx-on attributes (htmx evaluates
// those with new Function, which the policy also forbids).
(function () {
  'use strict';

  // Every htmx request carries the CSRF token (double submit: the cookie and this header).
  document.addEventListener('htmx:configRequest', function (event) {
    const meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) event.detail.headers['X-CSRFToken'] = meta.content;
  });

  // Forms marked data-reset-on-success are cleared once htmx reports the request succeeded.
  document.addEventListener('htmx:afterRequest', function (event) {
    const form = event.target.closest ? event.target.closest('form[data-reset-on-success]') : null;
    if (form && event.detail.successful) form.reset();
  });

  // A refused action (403, 409, 422 …) is not swapped into the page: its Chinese message is
  // shown beside the form (.form-error) or at the top of the page (#page-error), never lost.
  function errorBox(detail) {
    // htmx 2 fires beforeSwap on the target (detail.elt); the element that asked is the request's.
    const elt = (detail.requestConfig && detail.requestConfig.elt) || detail.elt;
    const form = elt && elt.closest ? elt.closest('form') : null;
    return (form && form.querySelector('.form-error')) || document.getElementById('page-error');
  }
  document.addEventListener('htmx:beforeSwap', function (event) {
    const xhr = event.detail.xhr;
    if (!xhr || xhr.status < 400) return;
    event.detail.shouldSwap = false;
    const box = errorBox(event.detail);
    if (!box) return;
    const doc = new DOMParser().parseFromString(xhr.responseText || '', 'text/html');
    const said = doc.querySelector('.error') || doc.body;
    box.textContent = (said && said.textContent.trim()) || '操作失败，请刷新页面后重试。';
  });
  document.addEventListener('htmx:sendError', function (event) {
    const box = errorBox(event.detail);
    if (box) box.textContent = '网络连接失败，请检查网络后重试。';
  });
  document.addEventListener('htmx:afterRequest', function (event) {
    if (!event.detail.successful) return;
    const box = errorBox(event.detail);
    if (box && box.classList.contains('form-error')) box.textContent = '';
  });

  // The agent's conversation page: a new suggested reply replaces the reply box's text unless
  // the agent already changed it (then 采用建议 puts it there).
  function useSuggestion(force) {
    const box = document.querySelector('#suggestion .suggested');
    const reply = document.getElementById('reply');
    if (!box || !reply) return;
    const text = box.dataset.text || '';
    if (force || !reply.value.trim() || reply.value === reply.dataset.suggested) reply.value = text;
    reply.dataset.suggested = text;
    // Sent with the reply: the hub tells the assistant when the agent changed its suggestion.
    const sent = document.getElementById('suggested');
    if (sent) sent.value = text;
  }
  document.addEventListener('htmx:sseMessage', function (event) {
    if (event.target && event.target.id === 'suggestion') useSuggestion(false);
  });
  document.addEventListener('click', function (event) {
    if (event.target.closest && event.target.closest('.use-suggestion')) useSuggestion(true);
  });

  // The customer's chat: keep the newest message in view.
  document.addEventListener('htmx:sseMessage', function () {
    const t = document.getElementById('thread');
    if (!t) return;
    t.scrollTop = t.scrollHeight;
    const empty = t.querySelector('p.muted');
    if (empty) empty.remove();
  });

  function drawKpiCharts() {
    const d = JSON.parse(document.getElementById('kpi-data').textContent);
    const font = {fontFamily: getComputedStyle(document.documentElement).fontFamily};
    const x = {type: 'category', data: d.days.map(s => s.slice(5))};
    function chart(id, option) {
      const c = echarts.init(document.getElementById(id), null, {renderer: 'canvas'});
      c.setOption(Object.assign({textStyle: font, tooltip: {trigger: 'axis'}, grid: {left: 48, right: 48, top: 36, bottom: 28}, xAxis: x}, option));
      window.addEventListener('resize', () => c.resize());
      document.getElementById(id).dataset.rendered = 'true';
    }
    chart('chart-volume', {legend: {data: ['会话数', 'AI 独立解决率']}, yAxis: [{type: 'value', name: '会话'}, {type: 'value', name: '%', max: 100}],
      series: [{name: '会话数', type: 'bar', data: d.conversations, itemStyle: {color: '#5470c6'}},
               {name: 'AI 独立解决率', type: 'line', yAxisIndex: 1, data: d.ai_containment_pct, connectNulls: true}]});
    chart('chart-times', {legend: {data: ['首次响应(分钟)', '解决时长(小时)']}, yAxis: [{type: 'value', name: '分钟'}, {type: 'value', name: '小时'}],
      series: [{name: '首次响应(分钟)', type: 'line', data: d.first_response_median_min, connectNulls: true},
               {name: '解决时长(小时)', type: 'line', yAxisIndex: 1, data: d.resolution_median_h, connectNulls: true}]});
    chart('chart-sla', {yAxis: {type: 'value', minInterval: 1}, series: [{name: 'SLA 超时', type: 'bar', data: d.sla_breaches, itemStyle: {color: '#c8102e'}}]});
    chart('chart-csat', {yAxis: {type: 'value', min: 1, max: 5}, series: [{name: '满意度', type: 'line', data: d.csat_average, connectNulls: true, areaStyle: {}}]});
  }

  document.addEventListener('DOMContentLoaded', function () {
    if (document.getElementById('kpi-data') && window.echarts) drawKpiCharts();
  });

  // On a phone a responsive table shows each row as a card: every cell carries its column's
  // header (data-label, drawn by the stylesheet), so the card still says what each figure is.
  function labelCells(root) {
    (root.querySelectorAll ? root : document).querySelectorAll('table.responsive').forEach(function (table) {
      const heads = Array.from(table.querySelectorAll('thead th')).map(function (th) { return th.textContent.trim(); });
      table.querySelectorAll('tbody tr').forEach(function (tr) {
        Array.from(tr.children).forEach(function (td, i) {
          if (heads[i] && !td.hasAttribute('data-label') && !td.hasAttribute('colspan')) td.setAttribute('data-label', heads[i]);
        });
      });
    });
  }
  document.addEventListener('DOMContentLoaded', function () { labelCells(document); });
  document.addEventListener('htmx:afterSettle', function () { labelCells(document); });
})();
