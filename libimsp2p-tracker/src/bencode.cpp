#include <imsp2p/tracker/bencode.hpp>
#include <imsp2p/tracker/error.hpp>

#include <limits>
#include <string>
#include <utility>

namespace imsp2p::tracker {

bencode_value::bencode_value() : data(std::string()) {}
bencode_value::bencode_value(std::int64_t integer) : data(integer) {}
bencode_value::bencode_value(std::string bytes) : data(std::move(bytes)) {}
bencode_value::bencode_value(const char* bytes) : data(std::string(bytes)) {}
bencode_value::bencode_value(bencode_list list) : data(std::move(list)) {}
bencode_value::bencode_value(bencode_dict dict) : data(std::move(dict)) {}

const bencode_value* bencode_value::find(std::string_view key) const noexcept {
    const auto* members = std::get_if<bencode_dict>(&data);
    if (members == nullptr) {
        return nullptr;
    }
    const auto found = members->find(key);
    return found == members->end() ? nullptr : &found->second;
}

bool bencode_value::operator==(const bencode_value& other) const {
    return data == other.data;
}

namespace {

void encode_into(const bencode_value& value, std::string& out) {
    if (const auto* integer = std::get_if<std::int64_t>(&value.data)) {
        out += 'i';
        out += std::to_string(*integer);
        out += 'e';
    } else if (const auto* bytes = std::get_if<std::string>(&value.data)) {
        out += std::to_string(bytes->size());
        out += ':';
        out += *bytes;
    } else if (const auto* list = std::get_if<bencode_list>(&value.data)) {
        out += 'l';
        for (const auto& element : *list) {
            encode_into(element, out);
        }
        out += 'e';
    } else {
        out += 'd';
        for (const auto& [key, member] : std::get<bencode_dict>(value.data)) {
            out += std::to_string(key.size());
            out += ':';
            out += key;
            encode_into(member, out);
        }
        out += 'e';
    }
}

class decoder {
  public:
    decoder(std::string_view text, const bencode_limits& limits) : text_(text), limits_(limits) {}

    bool decode(bencode_value& out, std::size_t depth) {
        if (++values_ > limits_.max_values || depth > limits_.max_depth || at_end()) {
            return false;
        }
        const char lead = text_[position_];
        if (lead == 'i') {
            ++position_;
            std::int64_t integer = 0;
            if (!read_integer('e', integer)) {
                return false;
            }
            out.data = integer;
            return true;
        }
        if (lead == 'l') {
            ++position_;
            bencode_list list;
            while (!at_end() && text_[position_] != 'e') {
                bencode_value element;
                if (!decode(element, depth + 1)) {
                    return false;
                }
                list.push_back(std::move(element));
            }
            if (at_end()) {
                return false;
            }
            ++position_;
            out.data = std::move(list);
            return true;
        }
        if (lead == 'd') {
            ++position_;
            bencode_dict dict;
            std::string previous;
            bool first = true;
            while (!at_end() && text_[position_] != 'e') {
                std::string key;
                if (!read_string(key)) {
                    return false;
                }
                if (!first && key <= previous) {
                    return false;  // duplicate or unsorted key
                }
                bencode_value member;
                if (!decode(member, depth + 1)) {
                    return false;
                }
                first = false;
                previous = key;
                dict.emplace(std::move(key), std::move(member));
            }
            if (at_end()) {
                return false;
            }
            ++position_;
            out.data = std::move(dict);
            return true;
        }
        std::string bytes;
        if (!read_string(bytes)) {
            return false;
        }
        out.data = std::move(bytes);
        return true;
    }

    [[nodiscard]] bool at_end() const noexcept { return position_ >= text_.size(); }
    [[nodiscard]] std::size_t position() const noexcept { return position_; }

  private:
    bool read_integer(char terminator, std::int64_t& value) {
        bool negative = false;
        if (!at_end() && text_[position_] == '-') {
            negative = true;
            ++position_;
        }
        const std::size_t start = position_;
        std::uint64_t magnitude = 0;
        while (!at_end() && text_[position_] >= '0' && text_[position_] <= '9') {
            const auto digit = static_cast<std::uint64_t>(text_[position_] - '0');
            if (magnitude > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
                return false;
            }
            magnitude = magnitude * 10 + digit;
            ++position_;
        }
        const std::size_t digits = position_ - start;
        if (digits == 0 || at_end() || text_[position_] != terminator) {
            return false;
        }
        if (text_[start] == '0' && (digits > 1 || negative)) {
            return false;  // leading zero or "-0"
        }
        ++position_;
        constexpr auto max_positive =
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        if (negative) {
            if (magnitude > max_positive + 1) {
                return false;
            }
            value = magnitude == max_positive + 1 ? std::numeric_limits<std::int64_t>::min()
                                                  : -static_cast<std::int64_t>(magnitude);
        } else {
            if (magnitude > max_positive) {
                return false;
            }
            value = static_cast<std::int64_t>(magnitude);
        }
        return true;
    }

    bool read_string(std::string& out) {
        if (at_end() || text_[position_] < '0' || text_[position_] > '9') {
            return false;
        }
        std::int64_t length = 0;
        if (!read_integer(':', length) || length < 0) {
            return false;
        }
        const auto size = static_cast<std::uint64_t>(length);
        if (size > text_.size() - position_) {
            return false;
        }
        out.assign(text_.substr(position_, static_cast<std::size_t>(size)));
        position_ += static_cast<std::size_t>(size);
        return true;
    }

    std::string_view text_;
    const bencode_limits& limits_;
    std::size_t position_ = 0;
    std::size_t values_ = 0;
};

}  // namespace

std::string bencode(const bencode_value& value) {
    std::string out;
    encode_into(value, out);
    return out;
}

bencode_value bdecode(std::string_view text, std::error_code& ec, const bencode_limits& limits) {
    decoder reader(text, limits);
    bencode_value value;
    if (!reader.decode(value, 0) || !reader.at_end()) {
        ec = errc::bad_bencode;
        return {};
    }
    ec.clear();
    return value;
}

bencode_value bdecode(std::string_view text, const bencode_limits& limits) {
    decoder reader(text, limits);
    bencode_value value;
    if (!reader.decode(value, 0) || !reader.at_end()) {
        throw std::system_error(make_error_code(errc::bad_bencode),
                                "near offset " + std::to_string(reader.position()));
    }
    return value;
}

}  // namespace imsp2p::tracker
