/* The curation report's queues: tabs, filters, sorting and paging over window.OVERMAP_REPORT
 * (report-data.js, loaded by a <script> tag so that the page works from file://). No framework;
 * every value from the run reaches the page through textContent or an attribute, never as HTML. */
(function () {
  'use strict';
  var D = window.OVERMAP_REPORT;
  var root = document.getElementById('queues');
  if (!D || !root) return;
  var PAGE = D.pageSize || 24;
  var state = { q: 0, pred: '', label: '', status: '', sort: 'rank', desc: true, page: 0 };

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs)
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'text') el.textContent = v;
        else if (k === 'on')
          Object.keys(v).forEach(function (ev) {
            el.addEventListener(ev, v[ev]);
          });
        else el.setAttribute(k, v);
      });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      (Array.isArray(c) ? c : [c]).forEach(function (x) {
        if (x !== null && x !== undefined) el.appendChild(typeof x === 'string' ? document.createTextNode(x) : x);
      });
    }
    return el;
  }
  var fmt = function (v) {
    return v === null || v === undefined ? '–' : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(3);
  };
  var int = function (n) {
    return n.toLocaleString('en-US');
  };
  function uniq(list) {
    var s = {};
    list.forEach(function (x) {
      if (x !== null && x !== undefined) s[x] = 1;
    });
    return Object.keys(s).sort();
  }

  function sortValue(c, key) {
    if (key === 'rank') return c.rank;
    if (key === 'key') return c.key;
    var v = c.scores[key];
    return v === null || v === undefined ? null : v;
  }

  function visible(queue) {
    var cards = queue.cards.filter(function (c) {
      return (
        (!state.pred || c.pred === state.pred) &&
        (!state.label || c.label === state.label) &&
        (!state.status || c.status === state.status)
      );
    });
    var key = state.sort,
      dir = state.desc ? -1 : 1;
    if (key !== 'rank' || !state.desc) {
      cards = cards
        .map(function (c, i) {
          return { c: c, i: i, v: sortValue(c, key) };
        })
        .sort(function (a, b) {
          if (a.v === null && b.v === null) return a.i - b.i;
          if (a.v === null) return 1;
          if (b.v === null) return -1;
          if (a.v < b.v) return -dir;
          if (a.v > b.v) return dir;
          return a.i - b.i;
        })
        .map(function (x) {
          return x.c;
        });
    }
    return cards;
  }

  function tile(src, caption, alt) {
    return h(
      'figure',
      null,
      src ? h('img', { src: src, alt: alt, width: 160, height: 160 }) : h('div', { class: 'ph', text: alt }),
      h('figcaption', { text: caption }),
    );
  }

  function card(c, queue) {
    var img = c.img || {};
    var tiles = img.missing
      ? h(
          'div',
          { class: 'tiles' },
          h('div', {
            class: 'ph missing',
            style: 'grid-column: span 4; aspect-ratio: auto; height: 60px',
            text: img.missing,
          }),
        )
      : h(
          'div',
          { class: 'tiles' },
          tile(img.thumb, 'image', 'image'),
          tile(img.gradcam, 'Grad-CAM of ' + (c.pred || 'the prediction'), 'no Grad-CAM'),
          tile(img.attention, 'attention map', 'no attention map'),
          tile(img.mask, 'object mask (contour)', 'no mask'),
        );
    var right =
      c.labelClass !== null && c.labelClass !== undefined && c.predIndex !== null && c.predIndex !== undefined
        ? c.labelClass === c.predIndex
        : null;
    var top = (c.top || []).slice(0, 3).map(function (t) {
      return h(
        'tr',
        null,
        h('td', { text: t['class'] }),
        h('td', { style: 'width:45%' }, h('div', { class: 'bar', style: 'width:' + Math.round(100 * t.p) + '%' })),
        h('td', { text: (100 * t.p).toFixed(1) + '%' }),
      );
    });
    var scores = D.scoreNames
      .filter(function (s) {
        return c.scores[s] !== undefined;
      })
      .map(function (s) {
        return h(
          'div',
          { class: s === state.sort ? 'hl' : null },
          h('span', { text: s + ' ' }),
          h('b', { text: fmt(c.scores[s]) }),
        );
      });
    return h(
      'article',
      {
        class: 'card',
        'data-key': c.key,
        'data-pred': c.pred || '',
        'data-label': c.label || '',
        'data-status': c.status,
        'data-sort-value': sortValue(c, state.sort) === null ? '' : String(sortValue(c, state.sort)),
      },
      queue.rankName ? h('span', { class: 'rank', text: queue.rankName + ' ' + fmt(c.rank) }) : null,
      h('div', { class: 'key', title: c.image, text: c.key }),
      tiles,
      img.missing || !img.noMaps ? null : h('div', { class: 'muted small', text: img.noMaps }),
      h(
        'div',
        { class: 'verdict' },
        h('span', { class: 'lab' }, 'label ', h('b', { text: c.label === null ? '(none)' : c.label })),
        c.pred
          ? h(
              'span',
              { class: 'pred ' + (right === true ? 'right' : right === false ? 'wrong' : '') },
              'predicted ',
              h('b', { text: c.pred }),
            )
          : null,
        h('span', { class: 'pill st-' + c.status, text: c.status }),
        c.accepted === null ? null : h('span', { class: 'muted', text: c.accepted ? 'accepted' : 'rejected' }),
      ),
      c.error ? h('div', { class: 'error', text: c.error }) : null,
      c.imageIssues && c.imageIssues.length
        ? h('div', { class: 'image-issues', text: 'image: ' + c.imageIssues.join(', ') })
        : null,
      c.duplicateGroup ? h('div', { class: 'dup-group muted small', text: 'copies: ' + c.duplicateGroup }) : null,
      top.length ? h('table', { class: 'top3' }, h('tbody', null, top)) : null,
      h('div', { class: 'scores' }, scores),
    );
  }

  function select(id, label, values, current, onChange, names) {
    var s = h(
      'select',
      {
        id: id,
        on: {
          change: function () {
            onChange(s.value);
          },
        },
      },
      values.map(function (v, i) {
        return h('option', {
          value: v,
          selected: v === current ? 'selected' : null,
          text: names ? names[i] : v === '' ? 'all' : v,
        });
      }),
    );
    return h('label', null, label + ' ', s);
  }

  function render() {
    var queue = D.queues[state.q];
    root.textContent = '';
    var tabs = h(
      'nav',
      { class: 'tabs' },
      D.queues.map(function (q, i) {
        return h(
          'button',
          {
            class: i === state.q ? 'active' : null,
            'data-queue': q.id,
            on: {
              click: function () {
                state = { q: i, pred: '', label: '', status: '', sort: 'rank', desc: true, page: 0 };
                render();
              },
            },
          },
          q.title,
          h('span', { class: 'n', text: '(' + int(q.total) + ')' }),
        );
      }),
    );
    root.appendChild(tabs);
    (D.omittedQueues || []).forEach(function (o) {
      root.appendChild(h('div', { class: 'notice', text: o.title + ': not shown. ' + o.why }));
    });
    if (!queue) {
      root.appendChild(h('p', { text: 'No queues.' }));
      return;
    }
    var cards = visible(queue);
    var pages = Math.max(1, Math.ceil(cards.length / PAGE));
    if (state.page >= pages) state.page = pages - 1;
    var shown = cards.slice(state.page * PAGE, (state.page + 1) * PAGE);
    var sortKeys = ['rank', 'key'].concat(D.scoreNames);
    var sortNames = [queue.rankName ? 'queue order (' + queue.rankName + ')' : 'queue order', 'key'].concat(
      D.scoreNames,
    );
    var sec = h(
      'section',
      { class: 'panel queue', id: 'queue-' + queue.id, 'data-queue': queue.id },
      h('h2', { text: queue.title }),
      h('p', { class: 'muted', text: queue.description }),
      h(
        'p',
        null,
        h('b', { id: 'listed-count', 'data-listed': String(queue.cards.length), text: int(queue.cards.length) }),
        ' listed of ',
        h('b', { text: int(queue.total) }),
        ' in this queue',
        queue.total > queue.cards.length
          ? h('span', {
              class: 'muted',
              text:
                ' · ' +
                int(queue.total - queue.cards.length) +
                ' not shown (the report keeps the top ' +
                int(D.perQueue) +
                ' per queue: overmap report --per-queue N)',
            })
          : null,
      ),
      h(
        'p',
        { class: 'exports' },
        'Export the listed: ',
        h('a', { href: queue.exports.csv, download: '', class: 'export-csv', text: 'CSV' }),
        h('a', { href: queue.exports.jsonl, download: '', text: 'JSONL' }),
        h('a', { href: queue.exports.labelStudio, download: '', text: 'Label Studio tasks' }),
        h('a', { href: D.labelStudioConfig, download: '', text: 'Label Studio config' }),
      ),
      queue.reasons
        ? h(
            'table',
            { class: 'reasons' },
            h('thead', null, h('tr', null, h('th', { text: 'reason' }), h('th', { text: 'images' }))),
            h(
              'tbody',
              null,
              Object.keys(queue.reasons)
                .sort(function (a, b) {
                  return queue.reasons[b] - queue.reasons[a];
                })
                .map(function (r) {
                  return h('tr', null, h('td', { text: r }), h('td', { text: int(queue.reasons[r]) }));
                }),
            ),
          )
        : null,
      h(
        'div',
        { class: 'controls' },
        select(
          'f-pred',
          'predicted class',
          [''].concat(
            uniq(
              queue.cards.map(function (c) {
                return c.pred;
              }),
            ),
          ),
          state.pred,
          function (v) {
            state.pred = v;
            state.page = 0;
            render();
          },
        ),
        select(
          'f-label',
          'label',
          [''].concat(
            uniq(
              queue.cards.map(function (c) {
                return c.label;
              }),
            ),
          ),
          state.label,
          function (v) {
            state.label = v;
            state.page = 0;
            render();
          },
        ),
        select(
          'f-status',
          'status',
          [''].concat(
            uniq(
              queue.cards.map(function (c) {
                return c.status;
              }),
            ),
          ),
          state.status,
          function (v) {
            state.status = v;
            state.page = 0;
            render();
          },
        ),
        select(
          'f-sort',
          'sort by',
          sortKeys,
          state.sort,
          function (v) {
            state.sort = v;
            state.page = 0;
            render();
          },
          sortNames,
        ),
        select(
          'f-dir',
          'order',
          ['desc', 'asc'],
          state.desc ? 'desc' : 'asc',
          function (v) {
            state.desc = v === 'desc';
            state.page = 0;
            render();
          },
          ['highest first', 'lowest first'],
        ),
        h('span', { id: 'match-count', class: 'muted', text: int(cards.length) + ' match' }),
      ),
      h(
        'div',
        { class: 'cards' },
        shown.map(function (c) {
          return card(c, queue);
        }),
      ),
      h(
        'div',
        { class: 'pager' },
        h('button', {
          id: 'prev',
          disabled: state.page === 0 ? 'disabled' : null,
          on: {
            click: function () {
              state.page--;
              render();
            },
          },
          text: '‹ previous',
        }),
        h('span', { id: 'page-of', text: 'page ' + (state.page + 1) + ' of ' + pages }),
        h('button', {
          id: 'next',
          disabled: state.page >= pages - 1 ? 'disabled' : null,
          on: {
            click: function () {
              state.page++;
              render();
            },
          },
          text: 'next ›',
        }),
      ),
    );
    root.appendChild(sec);
  }
  render();
})();
