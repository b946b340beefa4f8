/* placeholder: being written */
typedef int physim_placeholder_loongarch64;
