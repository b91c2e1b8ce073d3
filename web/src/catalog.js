// /: the catalog grid of ready titles with posters, and a recommendations row for a signed-in user.
import { api, currentUser, el, renderAccount, showError, userIdOf } from './common.js';

function card(v) {
  const img = v.poster_url
    ? el('img', { src: v.poster_url, srcset: v.poster_srcset || null, sizes: '(max-width: 600px) 45vw, 320px', alt: '', loading: 'lazy' })
    : el('div', { class: 'noposter', text: v.title.slice(0, 1).toUpperCase() });
  const dur = v.duration_s ? `${Math.floor(v.duration_s / 60)}:${String(Math.round(v.duration_s % 60)).padStart(2, '0')}` : '';
  return el('a', { class: 'card', href: `/watch/${v.id}`, 'data-video-id': v.id },
    el('div', { class: 'poster' }, img),
    el('div', { class: 'meta' }, el('span', { class: 'title', text: v.title }), el('span', { class: 'dur', text: dur })));
}

async function main() {
  const me = await currentUser();
  renderAccount(me);
  const grid = document.getElementById('grid');
  let catalog;
  try {
    catalog = await api('/web/catalog', { auth: false });
  } catch (e) {
    showError(`The catalog could not be loaded: ${e.detail ?? e.message}`);
    return;
  }
  window.vodflowCatalog = catalog;
  if (!catalog.videos.length) grid.append(el('p', { class: 'empty', text: 'No title is ready yet: upload one with `vodflow upload FILE --title T`.' }));
  for (const v of catalog.videos) grid.append(card(v));

  if (!me) return;
  const byId = new Map(catalog.videos.map((v) => [v.id, v]));
  try {
    const recs = await api(`/users/${encodeURIComponent(userIdOf(me))}/recommendations?limit=12`);
    const items = (recs.items || []).map((i) => byId.get(i.video_id)).filter(Boolean);
    if (items.length) {
      const row = document.getElementById('recs');
      row.hidden = false;
      row.querySelector('.row').append(...items.map(card));
    }
  } catch (e) {
    // recommendations are optional: no model yet (503/404) just hides the row
    console.info('recommendations unavailable:', e.detail ?? e.message);
  }
}

main();
