#include "common/event_base.hpp"

#include <memory>

namespace proxy {

event_base* new_event_base() {
    std::unique_ptr<event_config, decltype(&event_config_free)> cfg(event_config_new(),
                                                                    &event_config_free);
    if (!cfg) return event_base_new();
    event_config_set_flag(cfg.get(), EVENT_BASE_FLAG_NOLOCK);
    event_config_set_flag(cfg.get(), EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    return event_base_new_with_config(cfg.get());
}

}  // namespace proxy
