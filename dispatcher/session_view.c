/* The page's bytes, as the file is (session_view.h); the Makefile rebuilds
 * this when the page changes.
 */
#include "session_view.h"

__asm__(".section .rodata\n"
	".global session_view_html\n"
	".type session_view_html, @object\n"
	"session_view_html:\n"
	".incbin \"dispatcher/session_view.html\"\n"
	".global session_view_html_end\n"
	".type session_view_html_end, @object\n"
	"session_view_html_end:\n"
	".byte 0\n"
	".previous\n");
