/* placeholder: being written */
typedef int physim_placeholder_counting_hal;
