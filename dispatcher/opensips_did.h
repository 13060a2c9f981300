/* The dialog id OpenSIPS's mediaproxy module sends, in the form its MI
 * `dlg_end_dlg` accepts (doc/accounting.md §5.2).
 *
 * OpenSIPS >= 3.1's module sends one decimal number, h_entry * 2^32 + h_id
 * (what `dlg_list` shows as `db_id`); `dlg_end_dlg` looks a dialog up by its
 * `did` instead: h_entry and h_id each in lowercase hex written least
 * significant digit first, joined by a dot (the `did=` of its Record-Route).
 * 1431723840536 -> "d41.81414695", as measured on OpenSIPS 3.6.8.
 */
#ifndef MP_OPENSIPS_DID_H
#define MP_OPENSIPS_DID_H

#include <stddef.h>

/* "ffffffff.ffffffff" and its NUL */
#define OPENSIPS_DID_SIZE 18

/* Writes the did of `dialog_id` (all decimal digits, at most 2^64 - 1) into
 * `did`; -1, with `did` untouched, when it is not such a number.
 */
int opensips_did(const char *dialog_id, char did[OPENSIPS_DID_SIZE]);

#endif
