/* The live session view (dispatcher/session_view.html,
 * doc/management.md §8.2), built into the dispatcher: one page with its
 * style and script, which fetches /api/summary and /api/sessions and
 * nothing from elsewhere.
 */
#ifndef MP_SESSION_VIEW_H
#define MP_SESSION_VIEW_H

extern const char session_view_html[];
extern const char session_view_html_end[];

#endif
