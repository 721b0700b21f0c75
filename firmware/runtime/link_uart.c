/* The protocol over the board's console UART (bench_board.h). */
#include "bench_board.h"
#include "bench_link.h"

int32_t link_getc(void) { return board_uart_getc(); }

void link_write(const uint8_t *data, uint32_t len) { board_uart_write(data, len); }

void link_idle(void) { board_idle(); }
