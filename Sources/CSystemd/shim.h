#ifndef CHATD_CSYSTEMD_SHIM_H
#define CHATD_CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#endif
